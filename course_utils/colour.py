"""Opponent colour channels: one-channel priors for colour images.

The luminance (R + G + B)/3 and the colour differences (R − B)/2 and (R − 2G + B)/4 of an RGB
image. The transform is linear with orthogonal rows, so it commutes with a blur that acts on
every channel alike (and with the exact data step of such a blur) and keeps white noise white:
each opponent channel is a one-channel deblurring problem of its own, with noise σ·‖row‖. The
colour differences of a photograph are much smoother than R, G or B, which a one-channel prior
applied to each (:class:`Channelwise`) then exploits. Images ``(B, 3, H, W)`` in [0, 1].
"""

from __future__ import annotations

import torch
from torch import Tensor

OPPONENT = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [1 / 2, 0, -1 / 2], [1 / 4, -1 / 2, 1 / 4]])
"""``(3, 3)``: the rows give the opponent colour channels of an RGB pixel, the luminance
(R + G + B)/3 and the colour differences (R − B)/2 and (R − 2G + B)/4. The rows are orthogonal,
so white noise σ on R, G, B becomes independent white noise σ·‖row‖ on each channel."""
OPPONENT_NOISE = OPPONENT.norm(dim=1)
"""``(3,)``: the factor ‖row‖ by which each opponent channel scales white noise on R, G, B."""
OPPONENT_OFFSET = torch.tensor([0.0, 0.5, 0.5])
"""Added to the colour differences, so that every opponent channel of an image in [0, 1]
lies in [0, 1]."""


def to_opponent(x: Tensor) -> Tensor:
    """The opponent channels ``(B, 3, H, W)`` of RGB images ``x`` ``(B, 3, H, W)``."""
    m, off = OPPONENT.to(x), OPPONENT_OFFSET.to(x)
    return torch.einsum("ij,bjhw->bihw", m, x) + off.view(1, 3, 1, 1)


def from_opponent(c: Tensor) -> Tensor:
    """The inverse of :func:`to_opponent`."""
    m, off = OPPONENT.to(c), OPPONENT_OFFSET.to(c)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(m), c - off.view(1, 3, 1, 1))


class Channelwise(torch.nn.Module):
    """A one-channel denoiser ``f(x, σ)`` applied to each channel alone (the channels go into
    the batch): for colour images ``x`` ``(B, 3, H, W)`` to each opponent channel
    (:func:`to_opponent`), with noise level σ·‖row‖ for its row of :data:`OPPONENT`, then back
    to RGB; for one-channel images ``(B, 1, H, W)`` to ``x`` itself. σ (noise standard
    deviation) is a float or a tensor ``(B,)``, or ``None`` for a denoiser that ignores it
    (DnCNN). Same shape out. ``opponent=False`` denoises R, G and B alone instead (for
    comparison).

    The blur acts on every channel alike, and the opponent transform is linear with orthogonal
    rows, so it commutes with the blur and keeps the noise white: each opponent channel is a
    one-channel deblurring problem of its own, and the colour differences of a photograph are
    much smoother than R, G or B, which a one-channel prior then exploits.
    """

    def __init__(self, denoiser: torch.nn.Module, opponent: bool = True):
        super().__init__()
        self.denoiser = denoiser
        self.opponent = opponent

    def forward(self, x: Tensor, sigma=None) -> Tensor:
        b, c = x.shape[:2]
        if c not in (1, 3):
            raise ValueError(f"expected 1 (gray) or 3 (RGB) channels, got shape {tuple(x.shape)}.")
        opponent = self.opponent and c == 3
        if sigma is not None:
            sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1)
            if sigma.numel() == 1:
                sigma = sigma.expand(b)
            scale = OPPONENT_NOISE.to(x) if opponent else torch.ones(c).to(x)
            sigma = (sigma.reshape(b, 1) * scale.view(1, c)).reshape(b * c)
        channels = to_opponent(x) if opponent else x
        out = self.denoiser(channels.reshape(b * c, 1, *x.shape[2:]), sigma).reshape(x.shape)
        return from_opponent(out) if opponent else out
