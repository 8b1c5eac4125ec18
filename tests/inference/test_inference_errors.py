"""Bad input: each user error gives a clear message naming the argument (pinned here)."""

from __future__ import annotations

import pytest
import torch

from neurodyn.inference import NPE, EmbeddingConfig, NPEConfig, Posterior, RestrictionConfig
from neurodyn.priors import BoxUniform

PRIOR = BoxUniform([0.0, 0.0], [1.0, 1.0])


@pytest.fixture(scope="module")
def posterior() -> Posterior:
    theta = PRIOR.sample((200,))
    npe = NPE(PRIOR, NPEConfig(max_epochs=1, hidden_features=16, num_transforms=1))
    return npe.append_simulations(theta, theta + 0.1).train_and_build()


def _append(theta, x):
    return lambda: NPE(PRIOR).append_simulations(theta, x)


NAN_X = torch.tensor([0.5, float("nan")])

CASES = [
    (
        "theta/x length mismatch",
        _append(torch.zeros(10, 2), torch.zeros(9, 2)),
        ValueError,
        r"x: expected 10 rows \(one per row of theta\), got tensor of shape \(9, 2\)",
    ),
    (
        "theta wrong dimensionality",
        _append(torch.zeros(10), torch.zeros(10, 2)),
        ValueError,
        r"theta: expected a 2-D array, got tensor of shape \(10,\)",
    ),
    (
        "theta wrong num_params",
        _append(torch.zeros(10, 3), torch.zeros(10, 2)),
        ValueError,
        r"theta: expected last dimension of size 2, got tensor of shape \(10, 3\)",
    ),
    (
        "x without batch axis",
        _append(torch.zeros(1, 2), torch.zeros(2)),
        ValueError,
        r"x: expected an array of shape \(num_simulations, num_features\)",
    ),
    (
        "NaN in theta",
        _append(torch.full((3, 2), float("nan")), torch.zeros(3, 2)),
        ValueError,
        r"theta: expected finite values",
    ),
    (
        "theta not an array",
        _append("abc", torch.zeros(3, 2)),
        TypeError,
        r"theta: expected a torch.Tensor or numpy array, got 'str'",
    ),
    (
        "prior not a distribution",
        lambda: NPE([0.0, 1.0]),
        TypeError,
        r"prior: expected a distribution with sample\(\) and log_prob\(\)",
    ),
    (
        "all-invalid simulations",
        lambda: (
            NPE(PRIOR)
            .append_simulations(torch.zeros(5, 2), torch.full((5, 2), float("nan")))
            .train()
        ),
        ValueError,
        r"x: expected at least one valid simulation .*got '5 simulations, all invalid'",
    ),
    (
        "training before appending",
        lambda: NPE(PRIOR).train(),
        ValueError,
        r"append_simulations: expected simulations appended before train\(\)",
    ),
    (
        "posterior before training",
        lambda: NPE(PRIOR).build_posterior(),
        ValueError,
        r"train: expected a trained estimator before build_posterior\(\)",
    ),
    (
        "unknown estimator",
        lambda: NPEConfig(estimator="flow"),
        ValueError,
        r"estimator: expected one of 'auto', 'nsf', 'maf', 'mdn', got 'flow'",
    ),
    (
        "bad lr_decay",
        lambda: NPEConfig(lr_decay=1.5),
        ValueError,
        r"lr_decay: expected a factor in \(0, 1\) or None, got 1.5",
    ),
    (
        "unknown theta_transform",
        lambda: NPEConfig(theta_transform="log"),
        ValueError,
        r"theta_transform: expected one of 'none', 'logit', got 'log'",
    ),
    (
        "logit transform without a box prior",
        lambda: NPE(
            torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2)),
            NPEConfig(theta_transform="logit"),
        ),
        ValueError,
        r"config.theta_transform: expected a box-uniform prior \(finite low/high\) for the "
        r"logit transform, got 'MultivariateNormal'",
    ),
    (
        "bad batch size",
        lambda: NPEConfig(batch_size=0),
        ValueError,
        r"batch_size: expected a finite number > 0, got 0",
    ),
    (
        "bad validation fraction",
        lambda: NPEConfig(validation_fraction=1.5),
        ValueError,
        r"validation_fraction: expected a number in \(0, 1\), got 1.5",
    ),
    (
        "bad embedding kind",
        lambda: EmbeddingConfig(kind="rnn"),
        ValueError,
        r"kind: expected one of 'identity', 'mlp', 'cnn', 'permutation_invariant', got 'rnn'",
    ),
    (
        "config of wrong type",
        lambda: NPE(PRIOR, config={"estimator": "nsf"}),
        TypeError,
        r"config: expected an NPEConfig, got 'dict'",
    ),
    (
        "bad proposal",
        lambda: NPE(PRIOR).append_simulations(
            torch.zeros(2, 2), torch.zeros(2, 2), proposal="prior"
        ),
        TypeError,
        r"proposal: expected None, the prior, a Posterior or a truncated/restricted prior",
    ),
    (
        "bad dropout",
        lambda: RestrictionConfig(dropout=1.0),
        ValueError,
        r"dropout: expected a probability in \[0, 1\), got 1.0",
    ),
]


@pytest.mark.parametrize(("case", "call", "exc", "message"), CASES, ids=[c[0] for c in CASES])
def test_error_table(case, call, exc, message):
    with pytest.raises(exc, match=message):
        call()


POSTERIOR_CASES = [
    (
        "x_o wrong shape",
        lambda p: p.sample((5,), x=torch.zeros(3)),
        ValueError,
        r"x: expected shape \(2,\) \(or \(num_x, \*\(2,\)\)\), got tensor of shape \(3,\)",
    ),
    (
        "x_o several observations to sample",
        lambda p: p.sample((5,), x=torch.zeros(4, 2)),
        ValueError,
        r"x: expected one observation of shape \(2,\).*sample_batched",
    ),
    (
        "NaN in x_o",
        lambda p: p.sample((5,), x=NAN_X),
        ValueError,
        r"x: expected finite values, got '1 NaN/inf entries'",
    ),
    (
        "no default x",
        lambda p: Posterior(p.estimator, PRIOR, config=p.config).sample((5,)),
        ValueError,
        r"x: expected an observation \(or set_default_x first\), got None",
    ),
    (
        "theta wrong size in log_prob",
        lambda p: p.log_prob(torch.zeros(4, 3), x=torch.zeros(2)),
        ValueError,
        r"theta: expected last dimension of size 2, got tensor of shape \(4, 3\)",
    ),
    (
        "load from missing folder",
        lambda p: Posterior.load("/nonexistent/post"),
        FileNotFoundError,
        r"path: expected a folder written by Posterior.save",
    ),
]


@pytest.mark.parametrize(
    ("case", "call", "exc", "message"), POSTERIOR_CASES, ids=[c[0] for c in POSTERIOR_CASES]
)
def test_posterior_error_table(posterior, case, call, exc, message):
    with pytest.raises(exc, match=message):
        call(posterior)
