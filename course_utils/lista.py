"""LISTA: sparse coding problems, and ISTA unrolled into learned layers.

The problem (after Chen, Liu, Wang and Yin 2018, at a course size): recover a sparse code
``x`` (``n`` entries, each nonzero with probability ``sparsity``, nonzeros standard normal)
from ``y = A x + noise`` with a Gaussian dictionary ``A`` (``m x n``, columns of unit norm).
Vectors are rows: ``x`` is ``(B, n)``, ``y`` is ``(B, m)``, so ``A x`` is ``x @ A.T``.

The models unroll ISTA, ``x_{k+1} = soft(x_k - A^T (A x_k - y) / L, lam / L)`` from
``x_0 = 0``, into ``K`` layers whose weights are learned:

* :class:`LISTA` (Gregor and LeCun 2010): ``x_{k+1} = soft(W1_k y + W2_k x_k, theta_k)``;
  ``tied=True`` shares ``W1``, ``W2`` (not the thresholds) across layers.
* :class:`LISTACP` (coupled, Chen et al. 2018): ``x_{k+1} = soft(x_k + W_k^T (y - A x_k),
  theta_k)``, ``W_k`` of the dictionary's shape.

Both are built from a dictionary with ISTA's values (``W1 = A^T / L``, ``W2 = I - A^T A / L``,
``W = A / L``, ``theta = lam / L``), so before training a ``K``-layer model *is* ``K`` ISTA
iterations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn


def soft_threshold(v: Tensor, theta: Tensor | float) -> Tensor:
    """The prox of ``theta ||.||_1``: ``sign(v) max(|v| - theta, 0)`` (``theta`` >= 0)."""
    return torch.sign(v) * torch.clamp(v.abs() - theta, min=0)


def nmse_db(x_hat: Tensor, x: Tensor) -> float:
    """``10 log10( sum ||x_hat - x||^2 / sum ||x||^2 )`` over a batch ``(B, n)`` (dB)."""
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat has shape {tuple(x_hat.shape)}, x has {tuple(x.shape)}.")
    return 10 * math.log10(float((x_hat - x).detach().pow(2).sum() / x.pow(2).sum()))


LISTA_LAYERS = (1, 2, 4, 8, 16)
"""The numbers of layers of the shipped networks (:func:`lista_models`)."""
LISTA_LAM = 0.05
"""The lasso weight of ISTA that the shipped networks start from (thresholds ``lam / L``)."""

HELD_OUT_SEEDS = {"test": 10**8 + 1, "tune": 10**8 + 2, "shifted": 10**8 + 3}
"""Generator seeds of the held-out code sets (the training batches use seeds below 10**8)."""


@dataclass(frozen=True)
class SparseCoding:
    """A sparse coding problem: a dictionary, a sparsity and a noise level.

    :param m: measurements; :param n: code length (``n > m``);
    :param sparsity: probability that an entry of a code is nonzero (the expected fraction);
    :param sigma: noise standard deviation; :param seed: the dictionary's seed.
    """

    m: int = 64
    n: int = 128
    sparsity: float = 0.1
    sigma: float = 0.005
    seed: int = 0

    def __post_init__(self):
        if not (0 < self.m < self.n) or not (0 < self.sparsity <= 1) or self.sigma < 0:
            raise ValueError(
                f"need 0 < m < n, 0 < sparsity <= 1 and sigma >= 0, got m={self.m}, "
                f"n={self.n}, sparsity={self.sparsity}, sigma={self.sigma}."
            )

    @property
    def dictionary(self) -> Tensor:
        """``A``, ``(m, n)``: i.i.d. Gaussian entries, each column scaled to unit norm."""
        g = torch.Generator().manual_seed(self.seed)
        A = torch.randn(self.m, self.n, generator=g)
        return A / A.norm(dim=0, keepdim=True)

    def held_out(self, batch: int, name: str, sparsity: float | None = None):
        """A fixed held-out set ``(x, y)``: ``name`` is ``"test"``, ``"tune"`` or ``"shifted"``.

        Its generator seed (``HELD_OUT_SEEDS``) lies outside the seeds of the training
        script's batches (``seed * 1000003 + step``, for fewer than 10**8 steps).
        """
        if name not in HELD_OUT_SEEDS:
            raise ValueError(f"name must be one of {sorted(HELD_OUT_SEEDS)}, got {name!r}.")
        g = torch.Generator().manual_seed(HELD_OUT_SEEDS[name])
        return self.sample(batch, g, sparsity=sparsity)

    def sample(
        self, batch: int, generator: torch.Generator, sparsity: float | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(x, y)``: ``batch`` codes ``(batch, n)`` and their measurements ``(batch, m)``.

        ``sparsity`` overrides the problem's (to test outside the training distribution).
        """
        p = self.sparsity if sparsity is None else sparsity
        if batch < 1 or not 0 < p <= 1:
            raise ValueError(f"need batch >= 1 and 0 < sparsity <= 1, got {batch} and {p}.")
        support = torch.rand(batch, self.n, generator=generator) < p
        x = torch.randn(batch, self.n, generator=generator) * support
        y = x @ self.dictionary.T + self.sigma * torch.randn(batch, self.m, generator=generator)
        return x, y


def lipschitz(A: Tensor) -> float:
    """``L = ||A||_2^2``, the Lipschitz constant of ``x -> A^T (A x - y)``."""
    return float(torch.linalg.matrix_norm(A, ord=2) ** 2)


def ista(y: Tensor, A: Tensor, lam: float, n_iter: int, accelerate: bool = False) -> list[Tensor]:
    """ISTA (or FISTA with ``accelerate``) for ``min 1/2 ||A x - y||^2 + lam ||x||_1``.

    From ``x_0 = 0`` with step ``1 / L``; returns the iterates ``[x_1, ..., x_n_iter]``, each
    ``(B, n)``.
    """
    if n_iter < 1 or lam < 0:
        raise ValueError(f"need n_iter >= 1 and lam >= 0, got {n_iter} and {lam}.")
    L = lipschitz(A)
    x = torch.zeros(y.shape[0], A.shape[1], dtype=y.dtype)
    z, t, out = x, 1.0, []
    for _ in range(n_iter):
        x_new = soft_threshold(z - (z @ A.T - y) @ A / L, lam / L)
        if accelerate:
            t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
            z = x_new + (t - 1) / t_new * (x_new - x)
            t = t_new
        else:
            z = x_new
        x = x_new
        out.append(x)
    return out


def _layers(layers: int | None, K: int) -> int:
    """How many of a model's ``K`` layers to run (``None``: all), checked."""
    layers = K if layers is None else layers
    if not 1 <= layers <= K:
        raise ValueError(f"layers must be in 1..{K}, got {layers}.")
    return layers


class LISTA(nn.Module):
    """``K`` layers ``x_{k+1} = soft(W1_k y + W2_k x_k, theta_k)`` from ``x_0 = 0``.

    :param A: the dictionary ``(m, n)`` (used only to initialise, with ISTA's weights);
    :param lam: ISTA's weight for the initial thresholds ``lam / L``;
    :param tied: share ``W1`` and ``W2`` across the layers (each layer keeps its threshold).
    """

    def __init__(self, A: Tensor, K: int, lam: float, tied: bool = False):
        super().__init__()
        if K < 1:
            raise ValueError(f"need K >= 1 layers, got {K}.")
        L = lipschitz(A)
        n = A.shape[1]
        n_w = 1 if tied else K
        self.K, self.tied = K, tied
        self.W1 = nn.Parameter((A.T / L).repeat(n_w, 1, 1).clone())
        self.W2 = nn.Parameter((torch.eye(n) - A.T @ A / L).repeat(n_w, 1, 1).clone())
        self.theta = nn.Parameter(torch.full((K,), lam / L, dtype=A.dtype))

    def forward(self, y: Tensor, layers: int | None = None) -> Tensor:
        """The output of layer ``layers`` (default ``K``) for ``y`` ``(B, m)``: ``(B, n)``."""
        layers = _layers(layers, self.K)
        x = torch.zeros(y.shape[0], self.W1.shape[1], dtype=y.dtype)
        for k in range(layers):
            w = 0 if self.tied else k
            x = soft_threshold(y @ self.W1[w].T + x @ self.W2[w].T, self.theta[k])
        return x


class LISTACP(nn.Module):
    """``K`` coupled layers ``x_{k+1} = soft(x_k + W_k^T (y - A x_k), theta_k)`` from ``x_0 = 0``.

    ``A`` is kept fixed (a buffer); the ``W_k`` (``(m, n)`` each, initialised to ``A / L``) and
    the thresholds (``lam / L``) are learned.
    """

    def __init__(self, A: Tensor, K: int, lam: float):
        super().__init__()
        if K < 1:
            raise ValueError(f"need K >= 1 layers, got {K}.")
        L = lipschitz(A)
        self.K = K
        self.register_buffer("A", A.clone())
        self.W = nn.Parameter((A / L).repeat(K, 1, 1).clone())
        self.theta = nn.Parameter(torch.full((K,), lam / L, dtype=A.dtype))

    def forward(self, y: Tensor, layers: int | None = None) -> Tensor:
        """The output of layer ``layers`` (default ``K``) for ``y`` ``(B, m)``: ``(B, n)``."""
        layers = _layers(layers, self.K)
        x = torch.zeros(y.shape[0], self.A.shape[1], dtype=y.dtype)
        for k in range(layers):
            x = soft_threshold(x + (y - x @ self.A.T) @ self.W[k], self.theta[k])
        return x


def lista_models(
    problem: SparseCoding, layers: tuple[int, ...] = LISTA_LAYERS, lam: float = LISTA_LAM
) -> nn.ModuleDict:
    """Untied, tied and coupled LISTA for each ``K`` in ``layers``, with ISTA's weights.

    Keyed ``"untied_K"``, ``"tied_K"`` and ``"cp_K"``; the shipped checkpoint ``lista``
    (``solutions/training/lista/train.py``) holds them trained.
    """
    A = problem.dictionary
    models: dict[str, nn.Module] = {}
    for K in layers:
        models[f"untied_{K}"] = LISTA(A, K, lam)
        models[f"tied_{K}"] = LISTA(A, K, lam, tied=True)
        models[f"cp_{K}"] = LISTACP(A, K, lam)
    return nn.ModuleDict(models)
