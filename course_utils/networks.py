"""Small facts about networks that several notebooks need."""

from __future__ import annotations

from torch import nn


def n_params(module: nn.Module, trainable_only: bool = False) -> int:
    """The number of scalar parameters of ``module`` (with ``trainable_only``: those that
    require gradients). Shared parameters are counted once."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
