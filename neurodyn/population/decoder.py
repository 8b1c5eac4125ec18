"""The decoder SynapsNet shares across neurons and sessions (MLP, GRU or causal transformer).

It sees one neuron at a time: its own activity window, its own input-current window, the
behaviour window and its embedding. No layer mixes the neuron axis.
"""

from __future__ import annotations

import torch
from torch import nn

from neurodyn.population.config import SynapsNetConfig

__all__ = ["Decoder"]


class Decoder(nn.Module):
    """Shared decoder: ``(B, C, W)`` own activity and current windows -> ``(B, C)`` outputs.

    All inputs enter through one linear map of the concatenated
    ``[x window, I window, b window, e]`` (computed term by term so that the behaviour and
    embedding parts are evaluated once, not once per neuron), then a per-neuron MLP, GRU or
    causal transformer. Linear terms are added to the output: in the own window and the current
    window (an AR/VAR-like skip path) and, with behaviour and embeddings, a per-neuron linear
    tuning to the behaviour window whose weights are a linear map of the neuron's embedding.
    """

    def __init__(self, config: SynapsNetConfig, num_behaviour: int) -> None:
        super().__init__()
        h, w, e = config.hidden_dim, config.window, config.embedding_dim
        self.kind = config.decoder
        self.num_behaviour = num_behaviour
        self.skip_x = nn.Linear(w, 1)
        self.skip_i = nn.Linear(w, 1, bias=False)
        if self.kind == "mlp":
            self.in_x = nn.Linear(w, h)
            self.in_i = nn.Linear(w, h, bias=False)
            self.in_b = nn.Linear(w * num_behaviour, h, bias=False) if num_behaviour else None
            layers: list[nn.Module] = [nn.GELU()]
            for _ in range(config.num_layers - 1):
                layers += [nn.Linear(h, h), nn.GELU()]
            layers.append(nn.Linear(h, 1))
            self.body = nn.Sequential(*layers)
        else:
            self.in_x = nn.Linear(1, h)
            self.in_i = nn.Linear(1, h, bias=False)
            self.in_b = nn.Linear(num_behaviour, h, bias=False) if num_behaviour else None
            if self.kind == "gru":
                self.rnn = nn.GRU(h, h, num_layers=config.num_layers, batch_first=True)
            else:
                self.pos = nn.Parameter(torch.randn(w, h) * 0.02)
                layer = nn.TransformerEncoderLayer(
                    h,
                    config.num_heads,
                    dim_feedforward=2 * h,
                    dropout=0.0,
                    batch_first=True,
                    norm_first=True,
                    activation="gelu",
                )
                self.encoder = nn.TransformerEncoder(
                    layer, config.num_layers, enable_nested_tensor=False
                )
                self.norm = nn.LayerNorm(h)
                self.register_buffer(
                    "causal", torch.triu(torch.full((w, w), float("-inf")), 1), persistent=False
                )
            self.head = nn.Linear(h, 1)
        self.in_e = nn.Linear(e, h, bias=False) if e else None
        self.skip_b = nn.Linear(w * num_behaviour, e, bias=False) if e and num_behaviour else None

    def forward(
        self,
        x: torch.Tensor,
        cur: torch.Tensor,
        b: torch.Tensor | None,
        emb: torch.Tensor | None,
    ) -> torch.Tensor:
        """x, cur: ``(B, C, W)``; b: ``(B, W, num_behaviour)`` or None; emb: ``(C, E)``."""
        skip = (self.skip_x(x) + self.skip_i(cur)).squeeze(-1)
        if self.skip_b is not None and b is not None and emb is not None:
            skip = skip + self.skip_b(b.flatten(1)) @ emb.T  # (B, E) @ (E, C)
        if self.kind == "mlp":
            z = self.in_x(x) + self.in_i(cur)  # (B, C, h)
            if self.in_b is not None and b is not None:
                z = z + self.in_b(b.flatten(1))[:, None, :]
            if self.in_e is not None and emb is not None:
                z = z + self.in_e(emb)[None]
            return self.body(z).squeeze(-1) + skip
        z = self.in_x(x[..., None]) + self.in_i(cur[..., None])  # (B, C, W, h)
        if self.in_b is not None and b is not None:
            z = z + self.in_b(b)[:, None]
        if self.in_e is not None and emb is not None:
            z = z + self.in_e(emb)[None, :, None]
        bsz, c, w, h = z.shape
        z = z.reshape(bsz * c, w, h)
        if self.kind == "gru":
            last = self.rnn(z)[0][:, -1]
        else:
            z = self.encoder(z + self.pos, mask=self.causal, is_causal=True)
            last = self.norm(z[:, -1])
        return self.head(last).reshape(bsz, c) + skip
