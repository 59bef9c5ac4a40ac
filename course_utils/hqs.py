"""Half-quadratic splitting (HQS) for the challenge: the three learned reference submissions.

All alternate an exact data step with a learned prior step (deepinv's ``optim.HQS``):

    z_k     = prox_{η_k F}(x_k) = (AᵀA + I/η_k)⁻¹ (Aᵀy + x_k / η_k),   F(x) = ½‖Ax - y‖²
    x_{k+1} = f_k(z_k)

started from x_0 = Aᵀy. For the circular blur of the challenge ``BlurFFT.prox_l2`` computes the
data step exactly with two FFTs. The references differ in the prior step f_k:

* :func:`unrolled_hqs`: K small residual CNNs (deepinv's ``DnCNN``), one per iteration, and
  the step sizes η_k, trained end to end on the official operator from scratch;
* :func:`pnp_dpir`: one denoiser ``f(·, σ)`` trained for Gaussian denoising alone (it never
  sees the operator), plugged into the schedule of DPIR (Zhang et al. 2021, deepinv's
  ``optim.DPIR``): 8 iterations, σ_k log-spaced from 49/255 down to the noise level σ, and
  η_k = (σ_k / σ)² / λ (published λ = 0.23; the submission reads its own from
  ``schedule.json``), here with :func:`small_drunet` trained by the course;
* :func:`unfolded_dpir`: the same iterations with the denoiser and the schedule (η_k, σ_k)
  then trained together end to end on the operator, started from the plug-and-play weights.

All priors are one-channel networks applied to each opponent colour channel alone
(:class:`course_utils.colour.Channelwise`: the luminance and two colour differences): eight of
the 15 training photographs are gray, and a three-channel unrolled network trained on them beat
TV on gray copies of unseen photographs but lost to it on the colour originals. On the
validation patches the opponent channels were worth 1.2 dB to DPIR with the same denoiser,
against R, G and B alone. Images ``(B, C, H, W)`` in [0, 1] (C = 3 for the challenge, 1 in
training); noise levels σ are standard deviations in the same units; ``physics`` is
:func:`course_utils.physics.make_physics` at the images' size (a ``BlurFFT``, whose
``prox_l2`` is the exact data step).
"""

from __future__ import annotations

from pathlib import Path

import deepinv as dinv
import torch
from safetensors.torch import load_file, load_model
from torch import Tensor

from .baseline import tv_reconstruct
from .colour import OPPONENT_NOISE, Channelwise, to_opponent
from .data import challenge_patches
from .metrics import psnr
from .physics import NOISE_SIGMA, make_physics

UNROLLED_ITERS = 6
"""K, the iterations of the unrolled network."""
DNCNN_DEPTH, DNCNN_WIDTH = 6, 40
"""Convolutional layers and channels of each prior step of the unrolled network."""
DRUNET_CHANNELS = (16, 32, 64, 128)
"""Channels of the four scales of the plug-and-play denoiser."""
DENOISER_SIGMA_MAX = 0.2
"""The plug-and-play denoiser is trained on noise levels in [0, DENOISER_SIGMA_MAX]: DPIR's
schedule starts at 49/255 ≈ 0.192."""


def unrolled_hqs(
    n_iter: int = UNROLLED_ITERS,
    depth: int = DNCNN_DEPTH,
    nf: int = DNCNN_WIDTH,
    stepsize: float = 1.0,
) -> dinv.optim.BaseOptim:
    """An unrolled HQS network: ``n_iter`` untied one-channel ``DnCNN(depth, nf)`` prior steps
    (residual, 3×3 convolutions, :class:`Channelwise`) and one learned step size η_k per iteration
    (all start at ``stepsize``).
    Each CNN's last layer starts at zero, so the untrained network is HQS with the identity as
    prior step (proximal-point iterations on the data term).

    Call it as ``model(y, physics)``: ``y`` ``(B, C, H, W)`` and ``physics`` a ``BlurFFT`` at
    that size (its ``prox_l2`` is the exact data step); the output has the shape of ``y``. The
    step sizes are plain parameters (deepinv does not constrain them): :func:`check_stepsizes`
    says whether training kept them positive.
    """
    if n_iter < 1 or depth < 2 or nf < 1 or not stepsize > 0:
        raise ValueError(
            f"need n_iter >= 1, depth >= 2, nf >= 1 and stepsize > 0, got {n_iter}, {depth}, "
            f"{nf}, {stepsize}."
        )
    denoisers = [
        dinv.models.DnCNN(1, 1, depth=depth, nf=nf, pretrained=None) for _ in range(n_iter)
    ]
    for d in denoisers:
        torch.nn.init.zeros_(d.out_conv.weight)
        torch.nn.init.zeros_(d.out_conv.bias)
    return dinv.optim.HQS(
        data_fidelity=dinv.optim.L2(),
        prior=[dinv.optim.PnP(Channelwise(d)) for d in denoisers],
        stepsize=[stepsize] * n_iter,
        g_param=[NOISE_SIGMA] * n_iter,  # DnCNN ignores σ
        max_iter=n_iter,
        unfold=True,
        trainable_params=["stepsize"],
    )


def stepsizes(model: dinv.optim.BaseOptim) -> list[float]:
    """The step sizes η_k of an HQS model, in iteration order."""
    return [float(s.detach()) for s in model.params_algo["stepsize"]]


def check_stepsizes(model: dinv.optim.BaseOptim) -> None:
    """Raise if a step size η_k is not positive (the data step then leaves the data term)."""
    bad = [(k, eta) for k, eta in enumerate(stepsizes(model)) if not eta > 0]
    if bad:
        raise ValueError(
            f"step sizes must be positive, got {bad} (iteration, η): these weights cannot be "
            "used; retrain with a lower learning rate."
        )


def small_drunet(nc: tuple[int, int, int, int] = DRUNET_CHANNELS, nb: int = 1):
    """deepinv's DRUNet denoiser ``f(x, σ)`` at a CPU size, one channel, applied to each opponent
    colour channel alone (:class:`Channelwise`; untrained; 574,896 parameters with the
    defaults); image sides must be divisible by 8."""
    return Channelwise(dinv.models.DRUNet(1, 1, nc=list(nc), nb=nb, pretrained=None))


def check_drunet_size(y: Tensor) -> None:
    """Raise, with the fix, unless the sides of ``y`` ``(B, C, H, W)`` are divisible by 8, as
    DRUNet's three downsamplings need."""
    if y.shape[-2] % 8 or y.shape[-1] % 8:
        raise ValueError(
            f"DRUNet needs image sides divisible by 8, got {tuple(y.shape[-2:])}: pad the "
            "measurement (circularly, as the blur) and crop the output."
        )


DPIR_ITERS = 8
"""K of DPIR's schedule (Zhang et al. 2021; deepinv's ``optim.DPIR``)."""


DPIR_START, DPIR_LAMBDA = 49 / 255, 0.23
"""The first denoiser level σ_1 of DPIR's schedule and its weight λ (Zhang et al. 2021)."""


def dpir_schedule(
    sigma: float = NOISE_SIGMA,
    n_iter: int = DPIR_ITERS,
    start: float = DPIR_START,
    lamb: float = DPIR_LAMBDA,
) -> tuple[Tensor, Tensor, int]:
    """DPIR's schedule for noise level ``sigma`` and ``n_iter`` iterations: the denoiser levels
    σ_k ``(K,)``, log-spaced from ``start`` down to ``sigma``, the step sizes
    η_k = (σ_k / max(σ, 0.01))² / ``lamb`` ``(K,)``, and K. With the defaults this is deepinv's
    ``get_DPIR_params``."""
    if n_iter < 2 or not 0 < sigma < start or not lamb > 0:
        raise ValueError(
            f"need n_iter >= 2, 0 < sigma < start (the schedule falls from start to sigma: raise "
            f"start, up to the {DENOISER_SIGMA_MAX} the course's denoiser was trained for) and "
            f"lamb > 0, got n_iter={n_iter}, sigma={sigma}, start={start}, lamb={lamb}."
        )
    sigmas = torch.logspace(
        torch.log10(torch.tensor(float(start))), torch.log10(torch.tensor(float(sigma))), n_iter
    )
    return sigmas, (sigmas / max(0.01, sigma)) ** 2 / lamb, n_iter


def pnp_dpir(
    denoiser: torch.nn.Module,
    sigma: float = NOISE_SIGMA,
    n_iter: int = DPIR_ITERS,
    start: float = DPIR_START,
    lamb: float = DPIR_LAMBDA,
) -> dinv.optim.BaseOptim:
    """DPIR (HQS with the decreasing denoiser schedule :func:`dpir_schedule`) around
    ``denoiser(x, σ)``, started at x_0 = Aᵀy; call it as ``model(y, physics)``. With the
    defaults it is deepinv's ``optim.DPIR``."""
    sigmas, etas, n_iter = dpir_schedule(sigma, n_iter, start, lamb)
    return dinv.optim.HQS(
        data_fidelity=dinv.optim.L2(),
        prior=dinv.optim.PnP(denoiser),
        stepsize=etas.tolist(),
        g_param=sigmas.tolist(),
        max_iter=n_iter,
        early_stop=False,
    )


def load_unrolled_hqs(weights: str | Path) -> dinv.optim.BaseOptim:
    """:func:`unrolled_hqs` with the weights of ``weights`` (a ``.safetensors`` file written by
    ``save_model``), its K, depth and width read from the weight shapes; in eval mode."""
    state = load_file(str(weights))
    n_iter = sum(k.endswith(".denoiser.in_conv.weight") for k in state)
    first = "prior.0.denoiser.denoiser."
    if n_iter == 0 or first + "in_conv.weight" not in state:
        raise ValueError(
            f"{weights} holds no unrolled_hqs weights (no {first}in_conv.weight): write them "
            "with save_model(hqs.unrolled_hqs(...), path)."
        )
    depth = 2 + sum(k.startswith(first + "conv_list.") and k.endswith(".weight") for k in state)
    model = unrolled_hqs(n_iter, depth, nf=state[first + "in_conv.weight"].shape[0])
    load_model(model, str(weights))
    check_stepsizes(model)
    return model.eval()


def _small_drunet_shape(state: dict, prefix: str) -> tuple[tuple[int, ...], int]:
    """The channels and residual blocks per scale of the :func:`small_drunet` whose weights are
    the keys ``prefix + "denoiser.…"`` of ``state``."""
    d = prefix + "denoiser."
    nb = sum(k.startswith(d + "m_down1.") and k.endswith("res.0.weight") for k in state)
    nc = (  # each scale: nb residual blocks, then the strided convolution down
        state[d + "m_head.weight"].shape[0],
        *(state[f"{d}m_down{i}.{nb}.weight"].shape[0] for i in (1, 2, 3)),
    )
    return nc, nb


def load_small_drunet(weights: str | Path) -> Channelwise:
    """:func:`small_drunet` with the weights of ``weights``, its channels read from the weight
    shapes; in eval mode."""
    state = load_file(str(weights))
    if "denoiser.m_head.weight" not in state:
        raise ValueError(
            f"{weights} holds no small_drunet weights (no denoiser.m_head.weight): write them "
            "with save_model(hqs.small_drunet(...), path)."
        )
    denoiser = small_drunet(*_small_drunet_shape(state, ""))
    load_model(denoiser, str(weights))
    return denoiser.eval()


class LogSigma(torch.nn.Module):
    """``denoiser(x, exp(s))``: a denoiser called with the logarithm ``s`` of its noise level
    (a float or a tensor), so that a learned noise level stays positive."""

    def __init__(self, denoiser: torch.nn.Module):
        super().__init__()
        self.denoiser = denoiser

    def forward(self, x: Tensor, log_sigma) -> Tensor:
        return self.denoiser(x, torch.exp(torch.as_tensor(log_sigma, dtype=x.dtype)))


def unfolded_dpir(
    denoiser: torch.nn.Module,
    sigma: float = NOISE_SIGMA,
    n_iter: int = DPIR_ITERS,
    start: float = DPIR_START,
    lamb: float = DPIR_LAMBDA,
) -> dinv.optim.BaseOptim:
    """DPIR unfolded (deep unfolding, as in Zhang et al.'s USRNet): the K iterations of
    :func:`pnp_dpir` around one shared ``denoiser(x, σ)``, with the schedule made trainable:
    the step sizes η_k and the logarithms of the noise levels σ_k (:class:`LogSigma`), started
    at :func:`dpir_schedule`. Trained end to end on the operator, with the denoiser's weights,
    it is an unrolled network; untrained it computes what :func:`pnp_dpir` computes. Call it as
    ``model(y, physics)``. The step sizes are plain parameters: :func:`check_stepsizes` says
    whether training kept them positive; :func:`unfolded_schedule` reads the learned σ_k."""
    sigmas, etas, n_iter = dpir_schedule(sigma, n_iter, start, lamb)
    return dinv.optim.HQS(
        data_fidelity=dinv.optim.L2(),
        prior=dinv.optim.PnP(LogSigma(denoiser)),
        stepsize=etas.tolist(),
        g_param=sigmas.log().tolist(),
        max_iter=n_iter,
        unfold=True,
        trainable_params=["stepsize", "g_param"],
        early_stop=False,
    )


def unfolded_schedule(model: dinv.optim.BaseOptim) -> dict[str, list[float]]:
    """The schedule of an :func:`unfolded_dpir` model, in iteration order: ``{"sigma": σ_k,
    "stepsize": η_k}`` (noise levels in image units)."""
    return {
        "sigma": [float(s.detach().exp()) for s in model.params_algo["g_param"]],
        "stepsize": stepsizes(model),
    }


def load_unfolded_dpir(weights: str | Path) -> dinv.optim.BaseOptim:
    """:func:`unfolded_dpir` with the weights of ``weights`` (written by ``save_model``): the
    denoiser's channels and K read from the weight shapes, the learned schedule from the
    weights; in eval mode."""
    state = load_file(str(weights))
    prefix = "prior.0.denoiser.denoiser."
    n_iter = sum(k.startswith("init_params_algo.g_param.") for k in state)
    if prefix + "denoiser.m_head.weight" not in state or n_iter < 2:
        raise ValueError(
            f"{weights} holds no unfolded_dpir weights (no {prefix}denoiser.m_head.weight or "
            "fewer than two g_param): write them with save_model(hqs.unfolded_dpir(...), path)."
        )
    model = unfolded_dpir(small_drunet(*_small_drunet_shape(state, prefix)), n_iter=n_iter)
    load_model(model, str(weights))
    check_stepsizes(model)
    return model.eval()


def measure_patches(
    x: Tensor,
    generator: torch.Generator,
    sigma: float = NOISE_SIGMA,
    noise_scale: Tensor | None = None,
):
    """The challenge measurement of a batch of patches ``x`` ``(B, C, H, W)``: the official
    blur, circular at the patches' size, plus noise ``sigma`` drawn from ``generator``, times
    ``noise_scale`` ``(B,)`` per patch if given (for opponent channels: see
    :func:`training_batch`).

    :returns: ``(y, physics)``, ``y`` of the shape of ``x`` and the operator at that size.
    """
    physics = make_physics(img_size=tuple(x.shape[1:]), noise_sigma=sigma)
    with torch.no_grad():
        y = physics.A(x)
        noise = sigma * torch.randn(y.shape, generator=generator, dtype=y.dtype)
        if noise_scale is not None:
            noise = noise * noise_scale.to(y).view(-1, *[1] * (y.ndim - 1))
        return y + noise, physics


VALIDATION = {"patch": 64, "n": 32, "seed": 1, "noise seed": 10_000_019}
"""The references' monitoring set: 32 patches of the held-out quarter of the training photos."""


def validation_set(n: int = VALIDATION["n"]) -> tuple[Tensor, Tensor, dinv.physics.BlurFFT]:
    """``(x, y, physics)``: ``n`` patches ``(n, 3, 64, 64)`` of
    ``challenge_patches("validation")`` (never the dev set), measured with the official blur
    (circular at 64×64) and noise from a fixed seed."""
    patches = challenge_patches("validation", VALIDATION["patch"], n, seed=VALIDATION["seed"])
    x = torch.stack([patches[i] for i in range(n)])
    y, physics = measure_patches(x, torch.Generator().manual_seed(VALIDATION["noise seed"]))
    return x, y, physics


def validation_record(x: Tensor, y: Tensor, physics) -> dict:
    """How :func:`validation_set` was drawn, and the TV baseline's PSNR on it, for a record."""
    tv = float(psnr(tv_reconstruct(y, physics), x).mean())
    return {
        "validation": f"{len(x)} patches {VALIDATION['patch']}x{VALIDATION['patch']} of "
        f"challenge_patches('validation', seed={VALIDATION['seed']}) (the held-out last quarter "
        f"of each training photograph), noise generator seed {VALIDATION['noise seed']}; never "
        "the dev set",
        "tv baseline on the validation patches (psnr)": round(tv, 2),
    }


TRAIN_SCALES = (1, 2)
"""The references train on the photographs at the test images' scale and at twice it."""


def training_patches(patch: int, n: int, seed: int):
    """The references' training patches ``(3, patch, patch)``: ``challenge_patches("fit")`` (the
    15 training photographs) at :data:`TRAIN_SCALES`. Not ``cu.training_patches``, which draws
    from the 11 images of the ``"train"`` split, at their stored size."""
    return challenge_patches("fit", patch, n, seed, TRAIN_SCALES)


def training_batch(
    data, step: int, batch_size: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Items ``step·B … step·B + B - 1`` of ``data`` (a ``PatchDataset`` of RGB patches
    ``(3, p, p)``), one opponent channel of each (:func:`to_opponent`) drawn with ``generator``
    (the luminance for a gray patch, whose colour differences are constant): ``(B, 1, p, p)``,
    and ``(B,)`` each drawn channel's :data:`OPPONENT_NOISE`, the factor by which it scales
    noise on R, G and B. The batch depends only on the step."""
    x = torch.stack([data[step * batch_size + i] for i in range(batch_size)])
    gray = (x[:, 0] == x[:, 1]).flatten(1).all(1) & (x[:, 1] == x[:, 2]).flatten(1).all(1)
    channel = torch.randint(0, 3, (batch_size,), generator=generator)
    channel = torch.where(gray, torch.zeros_like(channel), channel)
    rows = torch.arange(batch_size)
    return to_opponent(x)[rows, channel][:, None], OPPONENT_NOISE[channel]


def training_record(data, batch_size: int) -> str:
    """How :func:`training_batch` draws from ``data``, for a record."""
    p = data.patch_size
    return (
        f"{batch_size} patches {p}x{p} per step: items step * {batch_size} + i of "
        f"course_utils.hqs.training_patches({p}, {len(data)}, seed) (the 15 training "
        f"photographs at scales {TRAIN_SCALES}, flips and rotations), one opponent colour channel "
        "of each (luminance, (R - B)/2 + 1/2 or (R - 2G + B)/4 + 1/2; the luminance for gray "
        "patches) drawn with the step's generator (seed * 1000003 + step)"
    )
