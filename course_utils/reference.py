"""Reference implementations that exercise checks fall back on, where no library function
computes the same thing.

A notebook's own check compares the student's function with one of these (or with a library
function) and continues with it while the exercise is not done. They live here, not in the
student notebook, so the answer is not on the page; the third hint tier points here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def residual_block(
    h: Tensor, conv1: Callable[[Tensor], Tensor], conv2: Callable[[Tensor], Tensor]
) -> Tensor:
    """The residual block ``h -> h + conv2(relu(conv1(h)))``; ``h`` is ``(B, C, H, W)``."""
    return torch.add(h, conv2(F.relu(conv1(h))))


def iterations_for_reduction(factor: float, reduction: float) -> int:
    """The smallest ``k >= 0`` with ``factor**k <= reduction``, for ``0 < factor < 1``.

    How many steps of a contraction by ``factor`` guarantee that an error shrinks by the
    factor ``reduction`` (e.g. ``1e-12``).
    """
    if not (0 < factor < 1 and 0 < reduction <= 1):
        raise ValueError(f"need 0 < factor < 1 and 0 < reduction <= 1, got {factor}, {reduction}.")
    return max(0, math.ceil(math.log(reduction) / math.log(factor) - 1e-12))
