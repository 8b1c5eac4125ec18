"""Frozen configuration dataclasses for neural posterior estimation.

All settings of density estimators, embedding nets and the training loop live here; each class
validates its fields on construction, so a misspelled or out-of-range setting fails at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from neurodyn._validation import check_choice, check_positive, check_probability, fail

__all__ = ["EmbeddingConfig", "NPEConfig", "RestrictionConfig", "config_from_dict"]

ESTIMATORS = ("nsf", "maf", "mdn")
EMBEDDINGS = ("identity", "mlp", "cnn", "permutation_invariant")
Z_SCORE_THETA = ("independent", "none")
Z_SCORE_X = ("independent", "structured", "none")


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
        estimator: ``"nsf"`` (neural spline flow, default), ``"maf"`` (masked autoregressive
            flow) or ``"mdn"`` (mixture density network; ``num_components=1`` is the
            single-Gaussian SNPE-B-style estimator of the eLife Allen-cell fits).
        hidden_features: width of the conditioner networks.
        num_transforms: number of flow transforms (``nsf``/``maf``).
        num_bins: spline bins (``nsf``).
        num_components: mixture components (``mdn``).
        z_score_theta: ``"independent"`` (per parameter) or ``"none"``.
        z_score_x: ``"independent"`` (per entry), ``"structured"`` (one mean/std for all
            entries, for raw traces) or ``"none"``.
        embedding: the embedding net for ``x``.
        batch_size: minibatch size.
        learning_rate: Adam learning rate.
        max_epochs: upper bound on training epochs.
        patience: stop after this many epochs without a better validation loss.
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

    estimator: Literal["nsf", "maf", "mdn"] = "nsf"
    hidden_features: int = 64
    num_transforms: int = 5
    num_bins: int = 8
    num_components: int = 5
    z_score_theta: Literal["independent", "none"] = "independent"
    z_score_x: Literal["independent", "structured", "none"] = "independent"
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    batch_size: int = 256
    learning_rate: float = 1e-3
    max_epochs: int = 1000
    patience: int = 20
    validation_fraction: float = 0.1
    clip_grad_norm: float | None = 5.0
    num_atoms: int = 10
    seed: int = 0
    device: str = "cpu"
    num_threads: int | None = None

    def __post_init__(self) -> None:
        check_choice("estimator", self.estimator, ESTIMATORS)
        check_choice("z_score_theta", self.z_score_theta, Z_SCORE_THETA)
        check_choice("z_score_x", self.z_score_x, Z_SCORE_X)
        for name in (
            "hidden_features",
            "num_transforms",
            "num_bins",
            "num_components",
            "batch_size",
            "max_epochs",
            "patience",
            "num_atoms",
        ):
            check_positive(name, getattr(self, name), integer=True)
        if self.num_bins < 2:
            fail("num_bins", "at least 2 spline bins", self.num_bins)
        if self.num_atoms < 2:
            fail(
                "num_atoms", "at least 2 atoms (the sample itself and one contrast)", self.num_atoms
            )
        check_positive("learning_rate", self.learning_rate)
        check_probability("validation_fraction", self.validation_fraction)
        if self.clip_grad_norm is not None:
            check_positive("clip_grad_norm", self.clip_grad_norm)
        if not isinstance(self.embedding, EmbeddingConfig):
            fail("embedding", "an EmbeddingConfig", type(self.embedding).__name__, exc=TypeError)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            fail("seed", "an int", self.seed, exc=TypeError)
        if not isinstance(self.device, str):
            fail("device", 'a string such as "cpu" or "cuda"', self.device, exc=TypeError)
        if self.num_threads is not None:
            check_positive("num_threads", self.num_threads, integer=True)

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
    emb = dict(data.pop("embedding", {}))
    if "channels" in emb:
        emb["channels"] = tuple(emb["channels"])
    known = {f.name for f in fields(NPEConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        fail("config", "keys of NPEConfig", unknown, "The file was written by another version.")
    return NPEConfig(embedding=EmbeddingConfig(**emb), **data)
