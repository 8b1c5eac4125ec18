"""Frozen configuration dataclasses for neural posterior estimation.

All settings of density estimators, embedding nets and the training loop live here; each class
validates its fields on construction, so a misspelled or out-of-range setting fails at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from neurodyn._validation import check_choice, check_positive, check_probability, fail

__all__ = [
    "EmbeddingConfig",
    "NPEConfig",
    "RestrictionConfig",
    "auto_settings",
    "config_from_dict",
]

ESTIMATORS = ("auto", "nsf", "maf", "mdn")
#: hidden-layer nonlinearities of the conditioner networks
ACTIVATIONS = ("auto", "relu", "tanh", "elu")
EMBEDDINGS = ("identity", "mlp", "cnn", "permutation_invariant")
Z_SCORE_THETA = ("independent", "none")
THETA_TRANSFORMS = ("none", "logit")
LR_SCHEDULES = ("auto", "constant", "cosine", "anneal")
Z_SCORE_X = ("independent", "structured", "none")


#: ``theta`` dimensions up to which ``estimator="auto"`` picks the spline flow at large budgets
AUTO_NSF_MAX_PARAMS = 5
#: training pairs from which ``estimator="auto"`` considers the spline flow (and its batch)
AUTO_LARGE_FROM = 5000


def auto_settings(num_simulations: int | None, num_params: int) -> dict[str, Any]:
    """The automatic estimator and optimiser settings of :class:`NPEConfig`.

    Chosen on the sbibm tasks against ``sbi`` 0.27 NPE (``benchmarks/sbi_tasks.py``,
    ``benchmarks/RESULTS.md``), for "C2ST not worse than sbi and training >= 5x faster on one
    CPU thread". Measured there: a zuko spline-flow (NSF) step costs 2.5-5x a masked-affine
    (MAF) step, growing with the dimension, and 3 NSF transforms cost ~55 % of 5; a step on
    2048 pairs costs only ~2x one on 512 (small flows are overhead-bound). MAF is as accurate
    as sbi on every task at 10^3 and on the near-Gaussian 10-D tasks at 10^4, but not on
    curved/multimodal low-dimensional posteriors at 10^4 (two_moons, slcp), where NSF is. So:

    * ``num_simulations >= 5000`` (or unknown) and ``num_params <= 5``: ``"nsf"`` with 3
      transforms, batch 2048, learning rate 2e-3;
    * otherwise: ``"maf"`` with 5 transforms, learning rate 1e-3, batch 512, or 256 below
      5000 pairs. Below 5000 pairs, batch 256 trained 1.4-2.1x faster than 512 on all five
      sbibm tasks at 10^3 (3 seeds, 10 observations each; session 8) at the same C2ST
      (differences -0.011 to +0.002, mean -0.002): four steps per epoch instead of two reach
      the minimum in fewer epochs, and a 256-pair MAF step costs ~75 % of a 512-pair one.
      Batch 128 was slower than 256 on every task.
    * Learning-rate schedule, from 5000 pairs (the NSF and the batch-512 MAF): ``"anneal"``
      with a one-epoch warm-up and a higher rate (NSF 4e-3, MAF 3e-3): constant until 5
      epochs pass without a better validation loss, then linearly to 0 over a quarter of the
      epochs so far, then stop. Session 9 (``benchmarks/RESULTS.md``): at
      10^5 simulations a constant rate left the flows short of their optimum when early
      stopping fired (the validation loss was still falling under epoch-to-epoch noise of
      ~0.02 nats); the anneal lowered the held-out loss on all five sbibm tasks and trained
      faster. At 10^4 it kept the C2ST of the NSF tasks within noise at 2-3x less training
      time, and lowered bernoulli_glm's. A longer MAF anneal (half the epochs) was a little
      more accurate on bernoulli_glm but cost gaussian_linear at 10^5 its 5x (4.9x).
      With 5 steps per epoch (NSF at 10^4) the plateau test can fire early on noise, which
      the held-out loss of two_moons showed. Below 5000 pairs, and for unknown sizes
      (``None``), the rate stays constant (10^3 settings of session 8).

    Args:
        num_simulations: number of training pairs, or ``None`` when unknown.
        num_params: dimension of ``theta``.

    Returns:
        ``{"estimator", "num_transforms", "batch_size", "learning_rate", "lr_schedule",
        "warmup_epochs", "constant_learning_rate"}`` (the last: the rate to use when a
        constant schedule is asked for instead).

    Example:
        >>> auto_settings(10_000, 2)["estimator"], auto_settings(1000, 2)["estimator"]
        ('nsf', 'maf')
        >>> auto_settings(100_000, 10)["lr_schedule"], auto_settings(1000, 10)["lr_schedule"]
        ('anneal', 'constant')
    """
    large = num_simulations is None or num_simulations >= AUTO_LARGE_FROM
    if large and num_params <= AUTO_NSF_MAX_PARAMS:
        out = {"estimator": "nsf", "num_transforms": 3, "batch_size": 2048, "learning_rate": 2e-3}
    else:
        batch = 512 if large else 256
        out = {"estimator": "maf", "num_transforms": 5, "batch_size": batch, "learning_rate": 1e-3}
    out["constant_learning_rate"] = out["learning_rate"]
    if num_simulations is not None and num_simulations >= AUTO_LARGE_FROM:
        nsf = out["estimator"] == "nsf"
        out |= {
            "learning_rate": 4e-3 if nsf else 3e-3,
            "lr_schedule": "anneal",
            "warmup_epochs": 1.0,
        }
    else:
        out |= {"lr_schedule": "constant", "warmup_epochs": 0.0}
    return out


@dataclass(frozen=True)
class EmbeddingConfig:
    """A trainable embedding net applied to (z-scored) ``x`` before the density estimator.

    Args:
        kind: ``"identity"`` (no embedding, for hand-crafted features), ``"mlp"``,
            ``"cnn"`` (1-D convolutions for raw traces ``x`` of shape ``(T,)`` or
            ``(channels, T)``) or ``"permutation_invariant"`` (i.i.d. trials, ``x`` of shape
            ``(num_trials, trial_features)``: per-trial MLP, mean over trials, MLP).
        hidden_features: width of the hidden layers.
        num_layers: number of hidden layers of each MLP.
        output_features: size of the embedding (the flow's context).
        channels: output channels of the convolution layers (``"cnn"``).
        kernel_size: convolution kernel length in samples (``"cnn"``).
        pool: max-pooling factor after each convolution (``"cnn"``).

    Example:
        >>> EmbeddingConfig(kind="mlp", output_features=8).output_features
        8
    """

    kind: Literal["identity", "mlp", "cnn", "permutation_invariant"] = "identity"
    hidden_features: int = 64
    num_layers: int = 2
    output_features: int = 16
    channels: tuple[int, ...] = (8, 16, 32)
    kernel_size: int = 5
    pool: int = 4

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, EMBEDDINGS)
        for name in ("hidden_features", "num_layers", "output_features", "kernel_size", "pool"):
            check_positive(name, getattr(self, name), integer=True)
        if not isinstance(self.channels, tuple) or not self.channels:
            fail("channels", "a non-empty tuple of ints", self.channels, exc=TypeError)
        for c in self.channels:
            check_positive("channels", c, integer=True)


@dataclass(frozen=True)
class NPEConfig:
    """Density estimator and training settings of :class:`~neurodyn.inference.NPE`.

    Args:
        estimator: ``"auto"`` (default: ``"nsf"`` for up to 5 parameters and at least 5000
            training pairs, else ``"maf"``; see :func:`auto_settings`), ``"nsf"`` (neural
            spline flow), ``"maf"`` (masked autoregressive flow) or ``"mdn"`` (mixture
            density network; ``num_components=1`` is the single-Gaussian SNPE-B-style
            estimator of the eLife Allen-cell fits).
        hidden_features: width of the conditioner networks.
        activation: their hidden nonlinearity: ``"auto"`` (default: ``"tanh"`` for the MAF,
            ``"relu"`` for NSF and MDN), ``"relu"``, ``"tanh"`` or ``"elu"``. Measured on the
            sbibm tasks (RESULTS.md, session 7): tanh MADEs lowered the MAF's C2ST at 10^3
            simulations by 0.01-0.07 on 4 of 5 tasks and at 10^4 by 0.03-0.04 on the two MAF
            tasks. Posteriors saved before this option existed load with ``"relu"``.
        num_transforms: number of flow transforms (``nsf``/``maf``; ``None``: automatic,
            3 for the automatic NSF, else 5).
        num_bins: spline bins (``nsf``).
        num_components: mixture components (``mdn``).
        z_score_theta: ``"independent"`` (per parameter) or ``"none"``.
        theta_transform: ``"none"``, or ``"logit"``: the flow models
            ``u = logit((theta - low) / (high - low))`` for a box-uniform prior (bounds taken
            from the prior), so every sample lies inside the box (no leakage, no rejection);
            ``log_prob`` includes the Jacobian. ``u`` is z-scored with the moments of a
            logistic variable (mean 0, std pi/sqrt(3)), those of ``u`` under the prior.
        z_score_x: ``"independent"`` (per entry), ``"structured"`` (one mean/std for all
            entries, for raw traces) or ``"none"``.
        embedding: the embedding net for ``x``.
        batch_size: minibatch size (``None``: automatic, 2048 with the automatic NSF, else
            512, or 256 below 5000 training pairs).
        learning_rate: Adam learning rate (``None``: automatic; with the automatic anneal from
            5000 pairs 4e-3 for the NSF and 3e-3 for the MAF, with a constant rate 2e-3 for
            the NSF and 1e-3 otherwise).
        max_epochs: upper bound on training epochs.
        patience: stop after this many epochs without a better validation loss.
        lr_decay: multiply the learning rate by this factor after every ``lr_patience``
            epochs without a better validation loss (``None``: constant learning rate).
        lr_patience: epochs without improvement before each learning-rate decay.
        lr_schedule: ``"auto"`` (default: ``"anneal"`` with the automatic estimator and batch
            from 5000 training pairs, else ``"constant"``; see :func:`auto_settings`),
            ``"constant"``, ``"cosine"`` (the rate falls as
            ``(1 + cos(pi * epoch / max_epochs)) / 2``, per step, reaching 0 at ``max_epochs``;
            early stopping still applies) or ``"anneal"``: constant until ``lr_patience``
            epochs without a better validation loss, then linearly down to 0 over
            ``anneal_fraction`` times the epochs so far, then stop (see
            :func:`~neurodyn.inference.training.fit`).
        warmup_epochs: linear learning-rate warm-up over this many (fractional) epochs
            (``None``: automatic, 1 with the automatic anneal schedule, else 0).
        anneal_fraction: length of the ``"anneal"`` phase relative to the epochs before it.
        randperm: random feature orders between the flow's autoregressive transforms (as in
            sbi/nflows) instead of alternating reversals (``nsf``/``maf``).
        validation_fraction: fraction of valid simulations held out for early stopping.
        clip_grad_norm: total gradient-norm clip (``None``: no clipping).
        num_atoms: atoms per sample for the APT/SNPE-C atomic loss (sequential rounds).
        seed: seed of initialisation, shuffling, the validation split and atoms.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        num_threads: torch CPU threads during training (``None``: ``cpu_threads`` default).

    Example:
        >>> NPEConfig(estimator="mdn", num_components=1).estimator
        'mdn'
    """

    estimator: Literal["auto", "nsf", "maf", "mdn"] = "auto"
    hidden_features: int = 50
    activation: Literal["auto", "relu", "tanh", "elu"] = "auto"
    num_transforms: int | None = None
    num_bins: int = 8
    num_components: int = 5
    z_score_theta: Literal["independent", "none"] = "independent"
    theta_transform: Literal["none", "logit"] = "none"
    z_score_x: Literal["independent", "structured", "none"] = "independent"
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    batch_size: int | None = None
    learning_rate: float | None = None
    max_epochs: int = 1000
    patience: int = 10
    lr_decay: float | None = None
    lr_patience: int = 5
    lr_schedule: Literal["auto", "constant", "cosine", "anneal"] = "auto"
    warmup_epochs: float | None = None
    anneal_fraction: float = 0.25
    randperm: bool = False
    validation_fraction: float = 0.1
    clip_grad_norm: float | None = 5.0
    num_atoms: int = 10
    seed: int = 0
    device: str = "cpu"
    num_threads: int | None = None

    def __post_init__(self) -> None:
        check_choice("estimator", self.estimator, ESTIMATORS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("z_score_theta", self.z_score_theta, Z_SCORE_THETA)
        check_choice("theta_transform", self.theta_transform, THETA_TRANSFORMS)
        check_choice("z_score_x", self.z_score_x, Z_SCORE_X)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.warmup_epochs is not None:
            check_positive("warmup_epochs", self.warmup_epochs, strict=False)
        check_positive("anneal_fraction", self.anneal_fraction)
        if not isinstance(self.randperm, bool):
            fail("randperm", "a bool", self.randperm, exc=TypeError)
        for name in (
            "hidden_features",
            "num_bins",
            "num_components",
            "max_epochs",
            "patience",
            "lr_patience",
            "num_atoms",
        ):
            check_positive(name, getattr(self, name), integer=True)
        if self.num_bins < 2:
            fail("num_bins", "at least 2 spline bins", self.num_bins)
        if self.num_atoms < 2:
            fail(
                "num_atoms", "at least 2 atoms (the sample itself and one contrast)", self.num_atoms
            )
        if self.num_transforms is not None:
            check_positive("num_transforms", self.num_transforms, integer=True)
        if self.batch_size is not None:
            check_positive("batch_size", self.batch_size, integer=True)
        if self.learning_rate is not None:
            check_positive("learning_rate", self.learning_rate)
        check_probability("validation_fraction", self.validation_fraction)
        if self.clip_grad_norm is not None:
            check_positive("clip_grad_norm", self.clip_grad_norm)
        if self.lr_decay is not None and not 0 < self.lr_decay < 1:
            fail("lr_decay", "a factor in (0, 1) or None", self.lr_decay)
        if not isinstance(self.embedding, EmbeddingConfig):
            fail("embedding", "an EmbeddingConfig", type(self.embedding).__name__, exc=TypeError)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            fail("seed", "an int", self.seed, exc=TypeError)
        if not isinstance(self.device, str):
            fail("device", 'a string such as "cpu" or "cuda"', self.device, exc=TypeError)
        if self.num_threads is not None:
            check_positive("num_threads", self.num_threads, integer=True)

    def resolve(self, num_simulations: int | None, num_params: int) -> NPEConfig:
        """These settings with the automatic choices made for a training set.

        ``estimator="auto"`` and ``None`` in ``num_transforms``, ``batch_size`` and
        ``learning_rate`` are replaced by the choices of :func:`auto_settings` for
        ``num_simulations`` training pairs (``None``: unknown, e.g. an online source) of
        ``num_params``-dimensional ``theta``; explicit values are kept. With an explicit
        estimator other than the automatic one, ``None`` means 5 transforms, batch 512 and
        learning rate 1e-3; an explicit batch other than the automatic one gets 1e-3.

        Example:
            >>> NPEConfig(batch_size=100).resolve(10_000, 2).batch_size
            100
        """
        auto = auto_settings(num_simulations, num_params)
        estimator = auto["estimator"] if self.estimator == "auto" else self.estimator
        transforms = self.num_transforms
        if transforms is None:
            transforms = auto["num_transforms"] if estimator == auto["estimator"] else 5
        same = estimator == auto["estimator"]
        batch = self.batch_size
        if batch is None:
            batch = auto["batch_size"] if same else 512
        auto_batch = same and batch == auto["batch_size"]
        schedule = self.lr_schedule
        from_auto = schedule == "auto" and auto_batch and self.lr_decay is None
        if schedule == "auto":
            schedule = auto["lr_schedule"] if from_auto else "constant"
        lr = self.learning_rate
        if lr is None:
            lr = auto["learning_rate"] if auto_batch else 1e-3
            if auto_batch and schedule != auto["lr_schedule"]:
                lr = auto["constant_learning_rate"]
        warmup = self.warmup_epochs
        if warmup is None:
            warmup = auto["warmup_epochs"] if from_auto else 0.0
        activation = self.activation
        if activation == "auto":
            activation = "tanh" if estimator == "maf" else "relu"
        return replace(
            self,
            estimator=estimator,
            num_transforms=transforms,
            batch_size=batch,
            learning_rate=lr,
            activation=activation,
            lr_schedule=schedule,
            warmup_epochs=warmup,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dictionary (inverse: :func:`config_from_dict`)."""
        out = asdict(self)
        out["embedding"]["channels"] = list(self.embedding.channels)
        return out


@dataclass(frozen=True)
class RestrictionConfig:
    """Settings of the valid/invalid :class:`~neurodyn.inference.RestrictionClassifier`.

    Args:
        hidden_features: width of the residual classifier.
        num_blocks: residual blocks.
        dropout: dropout probability inside the blocks.
        batch_size: minibatch size.
        learning_rate: Adam learning rate.
        max_epochs: upper bound on epochs.
        patience: early-stopping patience on the validation loss.
        validation_fraction: held-out fraction (also used to tune the threshold).
        reweight: weight classes by ``#valid/#invalid`` so both count equally.
        seed: seed of initialisation, split and shuffling.
        device: training device.
        num_threads: torch CPU threads.
    """

    hidden_features: int = 80
    num_blocks: int = 3
    dropout: float = 0.1
    batch_size: int = 256
    learning_rate: float = 1e-3
    max_epochs: int = 200
    patience: int = 10
    validation_fraction: float = 0.1
    reweight: bool = True
    seed: int = 0
    device: str = "cpu"
    num_threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("hidden_features", "num_blocks", "batch_size", "max_epochs", "patience"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("dropout", self.dropout, strict=False)
        if self.dropout >= 1:
            fail("dropout", "a probability in [0, 1)", self.dropout)
        check_positive("learning_rate", self.learning_rate)
        check_probability("validation_fraction", self.validation_fraction)
        if self.num_threads is not None:
            check_positive("num_threads", self.num_threads, integer=True)


def config_from_dict(data: dict[str, Any]) -> NPEConfig:
    """Rebuild an :class:`NPEConfig` from :meth:`NPEConfig.to_dict` output (unknown keys fail).

    Example:
        >>> config_from_dict(NPEConfig(hidden_features=32).to_dict()).hidden_features
        32
    """
    data = dict(data)
    # files written before the ``activation`` option: every conditioner used ReLU
    data.setdefault("activation", "relu")
    # files written before these options: constant rate, alternating orders
    data.setdefault("lr_schedule", "constant")
    data.setdefault("warmup_epochs", 0.0)
    data.setdefault("anneal_fraction", 0.25)
    data.setdefault("randperm", False)
    emb = dict(data.pop("embedding", {}))
    if "channels" in emb:
        emb["channels"] = tuple(emb["channels"])
    known = {f.name for f in fields(NPEConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        fail("config", "keys of NPEConfig", unknown, "The file was written by another version.")
    return NPEConfig(embedding=EmbeddingConfig(**emb), **data)
