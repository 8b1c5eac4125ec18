"""Shape aliases used in signatures and docstrings (jaxtyping, documentation only).

Conventions: batch axes first, then time, then channel.
"""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Float

ArrayLike = np.ndarray | torch.Tensor

#: Parameters, ``(num, num_params)``.
Theta = Float[torch.Tensor, "num num_params"]
#: Simulation outputs or features, ``(num, num_features)``.
X = Float[torch.Tensor, "num num_features"]
#: Voltage traces, ``(num, num_steps)`` (one compartment) or ``(num, num_steps, num_cells)``.
Trace = Float[torch.Tensor, "num num_steps *cells"]
#: Population activity, ``(num_steps, num_neurons)``.
Activity = Float[torch.Tensor, "num_steps num_neurons"]
#: Directed adjacency, ``(num_neurons, num_neurons)``; ``A[i, j]`` is the weight j -> i.
Adjacency = Float[torch.Tensor, "num_neurons num_neurons"]

__all__ = ["Activity", "Adjacency", "ArrayLike", "Theta", "Trace", "X"]
