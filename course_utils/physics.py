"""The official forward operator of the deblurring challenge.

    y = k * x + n,    n ~ N(0, sigma^2 I),  sigma = 0.03

* ``x``: RGB image, shape ``(B, 3, 256, 256)``, values in [0, 1].
* ``k``: a fixed 25x25 motion-blur kernel (non-negative, sums to 1), the same for all three
  channels, shipped in ``data/challenge/motion_kernel.npy`` (see :mod:`course_utils.kernel`).
* ``*``: **circular** convolution (periodic boundary), computed with FFTs by
  ``deepinv.physics.BlurFFT``. The blur wraps around the image borders; the dev set and the
  hidden test set are made with this same operator, so the problem is self-consistent.
* ``y``: same shape as ``x``; it is not clipped, so values slightly outside [0, 1] are normal.

Every notebook and the challenge scorer use :func:`make_physics`; nothing else defines the
operator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import deepinv as dinv
import torch
from torch import Tensor

from .kernel import load_kernel
from .validate import check_images

IMAGE_SHAPE = (3, 256, 256)
"""(C, H, W) of every challenge image."""

NOISE_SIGMA = 0.03
"""Standard deviation of the additive Gaussian noise, in image units (range [0, 1])."""


def make_physics(
    device: torch.device | str = "cpu",
    noise_sigma: float = NOISE_SIGMA,
    img_size: tuple[int, int, int] = IMAGE_SHAPE,
    dtype: torch.dtype = torch.float32,
) -> dinv.physics.BlurFFT:
    """The challenge operator as a deepinv physics object.

    ``physics.A`` blurs, ``physics.A_adjoint`` applies the adjoint (correlation with the
    kernel), and ``physics(x)`` blurs and adds noise. For reproducible measurements use
    :func:`measure`. ``img_size`` ``(C, H, W)`` and ``dtype`` give the same circular blur on
    other image sizes (crops, grey images) and in float64; it then equals
    :func:`fft_blur` with ``kernel_spectrum((H, W))``.
    """
    if not 0 <= noise_sigma < 1:
        raise ValueError(f"noise_sigma must lie in [0, 1), got {noise_sigma}.")
    kernel = load_kernel()
    if len(img_size) != 3 or min(img_size[1:]) < max(kernel.shape[-2:]):
        raise ValueError(
            f"img_size must be (C, H, W) with H and W at least the kernel's "
            f"{tuple(kernel.shape[-2:])}, got {tuple(img_size)}."
        )
    noise = dinv.physics.GaussianNoise(
        sigma=noise_sigma, rng=torch.Generator(device=device).manual_seed(0)
    )
    return dinv.physics.BlurFFT(
        img_size=tuple(img_size),
        filter=kernel.to(device=device, dtype=dtype),
        noise_model=noise,
        device=device,
    )


def padded_kernel(
    shape: tuple[int, int], dtype: torch.dtype = torch.float64, kernel: Tensor | None = None
) -> Tensor:
    """A blur kernel as an image of ``shape`` ``(H, W)``: zero-padded, its centre at pixel (0, 0).

    This is the impulse response of the circular blur, so its DFT is the kernel spectrum κ:
    ``torch.fft.rfft2(padded_kernel(shape))`` gives the eigenvalues of ``make_physics().A``.
    ``kernel`` is ``(kh, kw)`` with odd sides (default: the challenge kernel).
    """
    if kernel is None:
        kernel = load_kernel()[0, 0]
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(
            f"kernel must be 2-D with odd sides (so that it has a centre pixel), got shape "
            f"{tuple(kernel.shape)}."
        )
    kh, kw = kernel.shape
    if shape[0] < kh or shape[1] < kw:
        raise ValueError(f"shape {tuple(shape)} is smaller than the kernel {(kh, kw)}.")
    padded = torch.zeros(tuple(shape), dtype=dtype)
    padded[:kh, :kw] = kernel.to(dtype)
    return torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))


def kernel_spectrum(
    shape: tuple[int, int], dtype: torch.dtype = torch.float64, kernel: Tensor | None = None
) -> Tensor:
    """κ: the real-FFT spectrum ``rfft2`` of :func:`padded_kernel` ``(shape, dtype, kernel)``.

    Complex, shape ``(H, W // 2 + 1)``: the eigenvalues of the circular blur (half of them; the
    rest are their conjugates). Use it with :func:`fft_blur`.
    """
    return torch.fft.rfft2(padded_kernel(shape, dtype, kernel))


def fft_blur(x: Tensor, spectrum: Tensor, adjoint: bool = False) -> Tensor:
    """The circular blur ``F⁻¹(κ ⊙ F x)`` of ``x`` ``(..., H, W)``, or its adjoint (``conj κ``).

    ``spectrum`` is :func:`kernel_spectrum` for the image size ``(H, W)``; with the challenge
    kernel this is ``make_physics().A`` (and ``A_adjoint``) up to rounding, in any dtype and on
    images of any size. Differentiable by autograd.
    """
    size = tuple(x.shape[-2:])
    if tuple(spectrum.shape[-2:]) != (size[0], size[1] // 2 + 1):
        raise ValueError(
            f"spectrum has shape {tuple(spectrum.shape)}, but images of size {size} need "
            f"({size[0]}, {size[1] // 2 + 1}): use kernel_spectrum({size})."
        )
    kappa = spectrum.conj() if adjoint else spectrum
    return torch.fft.irfft2(torch.fft.rfft2(x) * kappa, s=size)


NOISE_STREAMS = ("hashed", "consecutive")
"""How image ``i`` of a test set gets its noise seed from the seed (see :func:`noise_seed`)."""


def noise_seed(seed: int, i: int, streams: str = "hashed") -> int:
    """The noise seed of image ``i`` of a set made with ``seed``.

    ``"hashed"`` (every new test set): the first 63 bits of ``sha256("seed:i")``, so that
    knowing one image's noise (or its seed) tells nothing about another image's.
    ``"consecutive"``: ``seed + i``, the rule the public dev set was made with (its ground
    truth is public, so its noise is no secret).
    """
    if streams not in NOISE_STREAMS:
        raise ValueError(f"streams must be one of {NOISE_STREAMS}, got {streams!r}.")
    if seed < 0 or i < 0:
        raise ValueError(f"seed and index must be non-negative, got {seed} and {i}.")
    if streams == "consecutive":
        return seed + i
    digest = hashlib.sha256(f"course-deblurring-noise:{seed}:{i}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def measure(
    x: Tensor,
    seed: int,
    physics: dinv.physics.Physics | None = None,
    streams: str = "hashed",
) -> Tensor:
    """Blur and add noise to a batch ``x`` of shape ``(B, 3, 256, 256)`` in [0, 1].

    Image ``i`` of the batch gets noise seeded with :func:`noise_seed` ``(seed, i, streams)``,
    so a measurement does not depend on which images come after it. Returns ``y`` with the
    shape of ``x``.
    """
    check_images(x, "x", channels=3, size=IMAGE_SHAPE[1:], value_range=(0.0, 1.0))
    if physics is None:
        physics = make_physics(device=x.device)
    seeds = [noise_seed(seed, i, streams) for i in range(x.shape[0])]
    with torch.no_grad():
        blurred = physics.A(x)
        noise = torch.empty_like(blurred)
        gen = torch.Generator(device=x.device)
        for i, s in enumerate(seeds):
            gen.manual_seed(s)
            noise[i] = torch.randn(blurred.shape[1:], generator=gen, device=x.device)
        return blurred + physics.noise_model.sigma * noise


def adjoint_test(
    A: Callable[[Tensor], Tensor],
    A_adjoint: Callable[[Tensor], Tensor],
    x_shape: tuple[int, ...],
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> float:
    """Relative error of the adjoint identity <A u, v> = <u, A^T v> for random u, v.

    ``u`` has shape ``x_shape``; ``v`` has the shape of ``A(u)``. Returns
    ``|<Au, v> - <u, A^T v>| / max(|<Au, v>|, tiny)``: about 1e-15 in float64 and 1e-7 in
    float32 for a correct adjoint, of order 1 for a wrong one.
    """
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(x_shape, generator=gen, dtype=dtype)
    Au = A(u)
    v = torch.randn(Au.shape, generator=gen, dtype=Au.dtype)
    ATv = A_adjoint(v)
    if ATv.shape != u.shape:
        raise ValueError(
            f"A_adjoint maps measurements of shape {tuple(v.shape)} to {tuple(ATv.shape)}, "
            f"but images have shape {tuple(u.shape)}."
        )
    lhs = torch.vdot(Au.flatten(), v.flatten()).real
    rhs = torch.vdot(u.flatten(), ATv.to(u.dtype).flatten()).real
    return float((lhs - rhs).abs() / lhs.abs().clamp_min(torch.finfo(dtype).tiny))
