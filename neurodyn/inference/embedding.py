"""Trainable embedding nets that compress ``x`` into the context of the density estimator.

* :class:`MLPEmbedding` — feature vectors ``(B, *x_shape)`` (flattened).
* :class:`CNNEmbedding` — raw traces ``(B, T)`` or ``(B, channels, T)`` (1-D convolutions).
* :class:`PermutationInvariantEmbedding` — i.i.d. trials ``(B, num_trials, trial_features)``:
  a per-trial MLP, the mean over trials, then an MLP (a deep set), so the result does not
  depend on trial order.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from neurodyn._validation import fail
from neurodyn.inference.config import EmbeddingConfig

__all__ = ["CNNEmbedding", "MLPEmbedding", "PermutationInvariantEmbedding", "build_embedding"]


def _mlp(in_features: int, hidden: int, num_layers: int, out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(num_layers):
        layers += [nn.Linear(width, hidden), nn.GELU()]
        width = hidden
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


class MLPEmbedding(nn.Module):
    """Fully connected embedding of flattened ``x``.

    Example:
        >>> import torch
        >>> net = MLPEmbedding(10, hidden_features=32, num_layers=2, output_features=4)
        >>> net(torch.randn(5, 10)).shape
        torch.Size([5, 4])
    """

    def __init__(
        self, in_features: int, *, hidden_features: int, num_layers: int, output_features: int
    ) -> None:
        super().__init__()
        self.net = _mlp(in_features, hidden_features, num_layers, output_features)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, *x_shape)`` -> ``(B, output_features)``."""
        return self.net(x.flatten(1))


class CNNEmbedding(nn.Module):
    """1-D convolutional embedding of raw traces.

    Args:
        x_shape: ``(T,)`` or ``(channels, T)`` of one trace.
        channels: output channels per convolution layer.
        kernel_size: kernel length (samples).
        pool: max-pool factor after each layer.
        hidden_features: width of the final MLP.
        output_features: embedding size.

    Example:
        >>> import torch
        >>> net = CNNEmbedding((200,), channels=(4, 8), kernel_size=5, pool=4,
        ...                    hidden_features=16, output_features=3)
        >>> net(torch.randn(2, 200)).shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        x_shape: tuple[int, ...],
        *,
        channels: tuple[int, ...],
        kernel_size: int,
        pool: int,
        hidden_features: int,
        output_features: int,
    ) -> None:
        super().__init__()
        if len(x_shape) not in (1, 2):
            fail(
                "x",
                "traces of shape (num, T) or (num, channels, T) for a CNN embedding",
                f"x_shape {x_shape}",
            )
        in_ch, length = (1, x_shape[0]) if len(x_shape) == 1 else x_shape
        layers: list[nn.Module] = []
        for ch in channels:
            layers += [nn.Conv1d(in_ch, ch, kernel_size, padding=kernel_size // 2), nn.GELU()]
            if length >= pool:
                layers.append(nn.MaxPool1d(pool))
                length //= pool
            in_ch = ch
        self.conv = nn.Sequential(*layers)
        self.head = _mlp(in_ch * length, hidden_features, 1, output_features)
        self.x_ndim = len(x_shape)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, T)`` or ``(B, channels, T)`` -> ``(B, output_features)``."""
        if self.x_ndim == 1:
            x = x.unsqueeze(1)
        return self.head(self.conv(x).flatten(1))


class PermutationInvariantEmbedding(nn.Module):
    """Deep-set embedding of i.i.d. trials: ``rho(mean_i phi(x_i))``.

    Example:
        >>> import torch
        >>> net = PermutationInvariantEmbedding(3, hidden_features=16, num_layers=1,
        ...                                     output_features=4)
        >>> x = torch.randn(2, 7, 3)
        >>> torch.allclose(net(x), net(x[:, torch.randperm(7)]), atol=1e-6)
        True
    """

    def __init__(
        self, trial_features: int, *, hidden_features: int, num_layers: int, output_features: int
    ) -> None:
        super().__init__()
        self.phi = _mlp(trial_features, hidden_features, num_layers, hidden_features)
        self.rho = _mlp(hidden_features, hidden_features, num_layers, output_features)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, num_trials, trial_features)`` -> ``(B, output_features)``."""
        return self.rho(self.phi(x).mean(dim=-2))


def build_embedding(config: EmbeddingConfig, x_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    """Embedding net for ``x`` of event shape ``x_shape`` and the size of its output.

    Example:
        >>> net, n = build_embedding(EmbeddingConfig(), (7,))
        >>> n
        7
    """
    size = math.prod(x_shape)
    if config.kind == "identity":
        if len(x_shape) != 1:
            return nn.Flatten(1), size
        return nn.Identity(), size
    if config.kind == "mlp":
        net = MLPEmbedding(
            size,
            hidden_features=config.hidden_features,
            num_layers=config.num_layers,
            output_features=config.output_features,
        )
    elif config.kind == "cnn":
        net = CNNEmbedding(
            x_shape,
            channels=config.channels,
            kernel_size=config.kernel_size,
            pool=config.pool,
            hidden_features=config.hidden_features,
            output_features=config.output_features,
        )
    else:
        if len(x_shape) != 2:
            fail(
                "x",
                "i.i.d. trials of shape (num, num_trials, trial_features) for a "
                "permutation-invariant embedding",
                f"x_shape {x_shape}",
            )
        net = PermutationInvariantEmbedding(
            x_shape[1],
            hidden_features=config.hidden_features,
            num_layers=config.num_layers,
            output_features=config.output_features,
        )
    return net, config.output_features
