"""Primal-dual reconstruction for CT: TV by PDHG, and the networks that unroll PDHG.

TV by PDHG (Chambolle & Pock 2011), for

    x_hat = argmin_x  1/2 ||A x - y||^2 + lam ||grad x||_{2,1}  =  phi_1(A x) + phi_2(grad x)

with both terms split, one operator [A; grad] and one dual variable per block (no separate
primal term). One iteration, with steps tau nu ||[A; grad]||^2 < 1 (||[A; grad]||^2 <=
||A||^2 + ||grad||^2 <= 1 + 8 for the course's ||A|| = 1):

    xi   <- prox_{nu phi_1^*}(xi + nu A xb)         (sinogram space; day2_4, Exercise 1)
    zeta <- proj_{|zeta_i| <= lam}(zeta + nu grad xb) prox of nu phi_2^* (gradient field)
    x'   <- x - tau (A^T xi + grad^T zeta)          (the primal prox is the identity)
    xb   <- 2 x' - x,  x <- x'                      over-relaxation

Learned Primal-Dual (Adler & Öktem 2018) unrolls the other splitting, PDHG on
phi_1(A x) + G(x) with the regulariser's prox in the primal step. It keeps the two spaces and
the operators and replaces the dual step and prox_{tau G} by residual CNNs, a new one in each
of ``n_iter`` iterations, acting on ``n_dual`` sinogram channels xi and ``n_primal`` image
channels x (the extra channels are a learned memory, in the place of xb):

    xi <- xi + Gamma_k(xi, A x[1], y)      deepinv's PDNet_DualBlock
    x  <- x + Lambda_k(x, A^T xi[0])       deepinv's PDNet_PrimalBlock

and returns x[0]. Learned gradient descent (the "learned primal" network of the same paper, a
simplified form of Adler & Öktem 2017, whose scheme also feeds the gradient of a regulariser)
keeps the primal blocks and fixes the dual variable to the residual, xi = A x[1] - y, so that
A^T xi is the gradient of the data term.

Both networks start from the filtered back-projection, x = FBP(y) in every primal channel and
xi = 0 (the paper starts from zero; Hauptmann et al. 2020 and deepinv's example start from the
FBP). Images ``(B, 1, H, W)`` in [0, 1]; sinograms ``(B, 1, n_det, angles)`` from
:mod:`course_utils.tomography`.
"""

from __future__ import annotations

import deepinv as dinv
import torch
from deepinv.models.PDNet import PDNet_DualBlock, PDNet_PrimalBlock
from torch import Tensor

CT_TV_LAM = 0.0007
"""TV weight for the course CT set-up: the best PSNR on 16 training phantoms over the grid
0.0005, 0.0007, 0.001, 0.0014, 0.002 (300 iterations; day2_4 repeats the neighbours)."""
CT_TV_ITERS = 300
"""PDHG iterations for TV (from 100 to 300 the mean test-phantom PSNR rises by about 0.4 dB,
Shepp–Logan's by 0.7 dB)."""
CT_TV_TAU = 1.0
"""Primal step of PDHG; the dual step is 0.99 / (9 tau)."""
LPD_ITERS = 10
"""Unrolled iterations of the shipped networks (as in the paper)."""

_nabla = dinv.models.TVDenoiser.nabla
_nabla_adjoint = dinv.models.TVDenoiser.nabla_adjoint


def pdhg_tv(
    y: Tensor,
    physics: dinv.physics.LinearPhysics,
    lam: float = CT_TV_LAM,
    n_iter: int = CT_TV_ITERS,
    tau: float = CT_TV_TAU,
    norm_sq: float = 9.0,
    x0: Tensor | None = None,
) -> Tensor:
    """TV reconstruction of sinograms ``y`` by PDHG with K = [A; grad] (see the module text).

    ``lam = 0`` drops the TV term (zeta stays 0): PDHG for least squares, for which
    ``norm_sq = ||A||^2`` suffices.

    :param norm_sq: an upper bound on ||K||^2 = ||A||^2 + ||grad||^2 (9 for ``||A|| = 1``); the
        dual step is ``0.99 / (norm_sq tau)``.
    :param x0: the starting image (default: the filtered back-projection).
    :returns: the last iterate x, ``(B, 1, H, W)``.
    """
    if lam < 0 or n_iter < 1 or tau <= 0 or norm_sq <= 0:
        raise ValueError(
            f"need lam >= 0, n_iter >= 1, tau > 0 and norm_sq > 0, got {lam}, {n_iter}, "
            f"{tau} and {norm_sq}."
        )
    nu = 0.99 / (norm_sq * tau)
    with torch.no_grad():
        x = physics.A_dagger(y, fbp=True) if x0 is None else x0.clone()
        xb = x.clone()
        xi = torch.zeros_like(y)
        zeta = torch.zeros(*x.shape, 2, dtype=x.dtype, device=x.device)
        for _ in range(n_iter):
            xi = (xi + nu * (physics.A(xb) - y)) / (1 + nu)
            if lam > 0:
                zeta = zeta + nu * _nabla(xb)
                zeta = zeta / (zeta.pow(2).sum(-1, keepdim=True).sqrt() / lam).clamp(min=1.0)
            x_new = x - tau * (physics.A_adjoint(xi) + _nabla_adjoint(zeta))
            x, xb = x_new, 2 * x_new - x
    return x


class LearnedPrimalDual(torch.nn.Module):
    """Learned Primal-Dual: ``n_iter`` dual and primal residual blocks (see the module text).

    :param learned_dual: ``False`` gives learned gradient descent (no dual blocks; the dual
        variable is the residual A x[1] - y).
    :param nf: features of the hidden convolutions; ``depth`` convolutions (3 x 3) per block.
    Call ``net(y, physics)`` with sinograms ``y`` ``(B, 1, n_det, angles)``.
    """

    def __init__(
        self,
        n_iter: int = LPD_ITERS,
        n_primal: int = 5,
        n_dual: int = 5,
        nf: int = 32,
        depth: int = 3,
        learned_dual: bool = True,
    ):
        super().__init__()
        if n_iter < 1 or n_primal < 2 or n_dual < 1 or nf < 1 or depth < 2:
            raise ValueError(
                "need n_iter >= 1, n_primal >= 2, n_dual >= 1, nf >= 1 and depth >= 2, got "
                f"{n_iter}, {n_primal}, {n_dual}, {nf} and {depth}."
            )
        self.n_iter, self.n_primal, self.n_dual = n_iter, n_primal, n_dual
        self.learned_dual = learned_dual
        self.primal = torch.nn.ModuleList(
            PDNet_PrimalBlock(n_primal + 1, n_primal, depth, nf=nf) for _ in range(n_iter)
        )
        self.dual = torch.nn.ModuleList(
            PDNet_DualBlock(n_dual + 2, n_dual, depth, nf=nf)
            for _ in range(n_iter if learned_dual else 0)
        )

    def forward(self, y: Tensor, physics: dinv.physics.LinearPhysics) -> Tensor:
        if y.ndim != 4 or y.shape[1] != 1:
            raise ValueError(f"y must be sinograms (B, 1, n_det, angles), got {tuple(y.shape)}.")
        x = physics.A_dagger(y, fbp=True).repeat(1, self.n_primal, 1, 1)
        xi = y.new_zeros(y.shape[0], self.n_dual, *y.shape[2:])
        for k in range(self.n_iter):
            if self.learned_dual:
                xi = self.dual[k](xi, physics.A(x[:, 1:2]), y)
                back = physics.A_adjoint(xi[:, :1])
            else:
                back = physics.A_adjoint(physics.A(x[:, 1:2]) - y)
            x = self.primal[k](x, back)
        return x[:, :1]


def ct_models(n_iter: int = LPD_ITERS, nf: int = 32) -> torch.nn.ModuleDict:
    """The shipped networks: ``"lgd"`` (learned gradient descent) and ``"lpd"`` (Learned
    Primal-Dual), same blocks and iterations, seeded so that every call builds the same
    initial weights."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        lgd = LearnedPrimalDual(n_iter, nf=nf, learned_dual=False)
        lpd = LearnedPrimalDual(n_iter, nf=nf, learned_dual=True)
    finally:
        torch.random.set_rng_state(state)
    return torch.nn.ModuleDict({"lgd": lgd, "lpd": lpd})


def linear_lpd(w: Tensor, W: Tensor, n_iter: int) -> LearnedPrimalDual:
    """An LPD network (2 primal channels ``(x, xb)``, 1 dual channel) whose blocks are the linear
    updates ``xi += w @ (xi, A xb, y)`` and ``(x, xb) += W @ (x, xb, A^T xi)``: each deepinv block
    (depth 2) copies its 3 inputs with ``in_conv``, passes them through a PReLU of slope 1 (the
    identity) and combines them with the centre taps of ``out_conv``. With PDHG's coefficients
    (``reference.pdhg_lpd_coefficients``) it is PDHG for least squares (day2_4, §3)."""
    if w.shape != (3,) or W.shape != (2, 3):
        raise ValueError(f"need w (3,) and W (2, 3), got {tuple(w.shape)} and {tuple(W.shape)}.")
    net = LearnedPrimalDual(n_iter, n_primal=2, n_dual=1, nf=3, depth=2)
    with torch.no_grad():
        for k in range(n_iter):
            for block, coefficients in ((net.dual[k], w[None]), (net.primal[k], W)):
                block.in_conv.weight.zero_()
                block.in_conv.bias.zero_()
                for c in range(3):
                    block.in_conv.weight[c, c, 1, 1] = 1.0
                block.nl_list[0].weight.fill_(1.0)
                block.out_conv.weight.zero_()
                block.out_conv.bias.zero_()
                block.out_conv.weight[:, :, 1, 1] = coefficients.to(block.out_conv.weight.dtype)
    return net
