"""Computed tomography: the course's sparse-angle parallel-beam set-up.

Shared by the Day 2 unrolling notebooks (Learned Primal-Dual) and the Day 3 medical-imaging
notebooks. The operator is deepinv's :class:`~deepinv.physics.Tomography` (parallel beam,
``angles`` equispaced in [0°, 180°), the square image inside the field of view,
``circle=False``), normalised so that ``||A|| = 1``. A sinogram ``y = A x + n`` has shape
``(B, 1, n_det, angles)`` with ``n_det = ceil(sqrt(2) size)``. The noise is Gaussian with
``sigma = noise_level * RMS(A x_SL)``, a fraction of the root-mean-square sinogram of the
Shepp–Logan phantom at the same size, so "2 % noise" means the same at every size.

For training, :class:`MatrixTomography` is the same operator stored as a sparse matrix (built
by applying ``A`` to every pixel of the basis; equal to it to float32 rounding), about ten
times faster on a CPU at 64 x 64.

Data: random ellipse phantoms (:class:`course_utils.data.EllipsePhantomDataset`; training and
test sets differ by their seeds) and the Shepp–Logan phantom (scikit-image), all in [0, 1].
"""

from __future__ import annotations

import warnings

import deepinv as dinv
import torch
import torch.nn.functional as F
from torch import Tensor

from .data import EllipsePhantomDataset
from .images import load_image

CT_SIZE = 64
"""Image side (pixels)."""
CT_ANGLES = 30
"""Projection angles (sparse: a fully sampled 64 x 64 scan would use about 100)."""
CT_NOISE_LEVEL = 0.05
"""Noise standard deviation as a fraction of the Shepp–Logan sinogram's RMS."""
TRAIN_SEED, TEST_SEED = 0, 1
"""Seeds of the training and test phantom sets (disjoint item generators)."""


def make_ct_physics(size: int = CT_SIZE, angles: int = CT_ANGLES) -> dinv.physics.Tomography:
    """The course's CT operator for ``size x size`` images, with ``||A|| = 1`` (no noise model:
    :func:`measure` adds the noise with an explicit generator)."""
    if size < 16 or angles < 1:
        raise ValueError(f"need size >= 16 and angles >= 1, got {size} and {angles}.")
    return dinv.physics.Tomography(angles=angles, img_width=size, circle=False, normalize=True)


def shepp_logan(size: int = CT_SIZE) -> Tensor:
    """The Shepp–Logan phantom resized to ``size x size`` (area averaging), ``(1, 1, size,
    size)`` in [0, 1]."""
    x = load_image("shepp_logan", channels=1)[None]
    return F.interpolate(x, size=(size, size), mode="area").clamp(0, 1)


def noise_sigma(
    physics: dinv.physics.Tomography, size: int, noise_level: float = CT_NOISE_LEVEL
) -> float:
    """``noise_level`` times the RMS of the Shepp–Logan sinogram (``size x size`` images)."""
    if noise_level < 0:
        raise ValueError(f"noise_level must be >= 0, got {noise_level}.")
    with torch.no_grad():
        y = physics.A(shepp_logan(size))
    return noise_level * float(y.pow(2).mean().sqrt())


def measure(
    physics: dinv.physics.Tomography,
    x: Tensor,
    generator: torch.Generator,
    noise_level: float = CT_NOISE_LEVEL,
) -> Tensor:
    """Sinograms ``A x + sigma n`` of images ``x`` ``(B, 1, size, size)``, ``n`` standard normal
    from ``generator``."""
    if x.ndim != 4 or x.shape[1] != 1 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"x must be (B, 1, size, size), got {tuple(x.shape)}.")
    with torch.no_grad():
        y = physics.A(x)
    sigma = noise_sigma(physics, x.shape[-1], noise_level)
    return y + sigma * torch.randn(y.shape, generator=generator)


def phantoms(n: int, split: str, size: int = CT_SIZE) -> Tensor:
    """``n`` random ellipse phantoms ``(n, 1, size, size)`` of the ``"train"`` or ``"test"``
    set (the same ``n`` phantoms on every call)."""
    seeds = {"train": TRAIN_SEED, "test": TEST_SEED}
    if split not in seeds or n < 1:
        raise ValueError(f"need split 'train' or 'test' and n >= 1, got {split!r} and {n}.")
    data = EllipsePhantomDataset(n, size=size, seed=seeds[split])
    return torch.stack([data[i] for i in range(n)])


class _SparseMatmul(torch.autograd.Function):
    """``x -> x @ M^T`` for a batch of rows ``x`` ``(B, N)``, with the gradient ``g @ M``."""

    @staticmethod
    def forward(ctx, x: Tensor, M: Tensor, MT: Tensor) -> Tensor:
        ctx.MT = MT
        return (M @ x.T).T

    @staticmethod
    def backward(ctx, g: Tensor):
        return (ctx.MT @ g.T).T, None, None


class MatrixTomography(dinv.physics.LinearPhysics):
    """``physics`` (a :func:`make_ct_physics` operator for ``size x size`` images) as an explicit
    sparse matrix ``M`` ``(n_det angles, size^2)``: ``A`` and ``A_adjoint`` are sparse products
    (each the other's gradient), ``A_dagger(y, fbp=True)`` is the original FBP. Building it
    applies ``A`` to all ``size^2`` basis images (about 10 s at 64 x 64)."""

    def __init__(self, physics: dinv.physics.Tomography, size: int):
        super().__init__()
        eye = torch.eye(size * size)
        with torch.no_grad():
            cols = [
                physics.A(eye[i : i + 256].reshape(-1, 1, size, size)).flatten(1)
                for i in range(0, size * size, 256)
            ]
        dense = torch.cat(cols).T.contiguous()
        self.tomography, self.size = physics, size
        self.sinogram_shape = tuple(physics.A(eye[:1].reshape(1, 1, size, size)).shape[1:])
        with warnings.catch_warnings():  # "sparse CSR support is in beta": used in a basic way
            warnings.simplefilter("ignore", UserWarning)
            self.M, self.MT = dense.to_sparse_csr(), dense.T.contiguous().to_sparse_csr()

    def A(self, x: Tensor, **kwargs) -> Tensor:
        if x.shape[1:] != (1, self.size, self.size):
            raise ValueError(f"x must be (B, 1, {self.size}, {self.size}), got {tuple(x.shape)}.")
        out = _SparseMatmul.apply(x.reshape(x.shape[0], -1), self.M, self.MT)
        return out.reshape(x.shape[0], *self.sinogram_shape)

    def A_adjoint(self, y: Tensor, **kwargs) -> Tensor:
        if tuple(y.shape[1:]) != self.sinogram_shape:
            raise ValueError(f"y must be (B, *{self.sinogram_shape}), got {tuple(y.shape)}.")
        out = _SparseMatmul.apply(y.reshape(y.shape[0], -1), self.MT, self.M)
        return out.reshape(y.shape[0], 1, self.size, self.size)

    def A_dagger(self, y: Tensor, fbp: bool = False, **kwargs) -> Tensor:
        if fbp:
            return self.tomography.A_dagger(y, fbp=True)
        return super().A_dagger(y, **kwargs)
