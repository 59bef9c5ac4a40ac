"""Tools to check a gradient by numbers: relative errors, finite differences, and the memory
that automatic differentiation keeps for the backward pass.

Finite differences are the independent witness of every gradient claim in the course: the
central difference ``(f(x + εv) - f(x - εv)) / 2ε`` has error O(ε²) from truncation and
O(δ/ε) from rounding (δ ≈ 1e-16 in float64), so ε ≈ 1e-6 gives about 10 correct digits.
Use float64 for these checks; float32 gives about 3.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "directional_derivative",
    "finite_difference_gradient",
    "relative_error",
    "saved_tensor_bytes",
    "vjp",
]

MAX_FD_ENTRIES = 10_000


def relative_error(actual: Tensor, reference: Tensor) -> float:
    """``‖actual - reference‖ / ‖reference‖`` (Frobenius norms, in float64).

    When ``reference`` is zero the absolute error ``‖actual‖`` is returned instead.
    """
    actual, reference = torch.as_tensor(actual), torch.as_tensor(reference)
    if actual.shape != reference.shape:
        raise ValueError(
            f"shapes differ: {tuple(actual.shape)} and {tuple(reference.shape)}; compare "
            "tensors of the same shape."
        )
    actual, reference = actual.detach().double(), reference.detach().double()
    scale = torch.linalg.vector_norm(reference)
    error = torch.linalg.vector_norm(actual - reference)
    return float(error / scale) if scale > 0 else float(error)


def _check_float64(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.dtype != torch.float64:
        raise TypeError(
            f"{name} is {str(x.dtype).removeprefix('torch.')}: finite differences need "
            f"float64 for more than 3 correct digits; pass {name}.double()."
        )


def _scalar(f: Callable[[Tensor], Tensor], x: Tensor) -> float:
    value = f(x)
    if not isinstance(value, Tensor) or value.numel() != 1:
        raise ValueError("f must return a scalar tensor (one entry), e.g. a loss.")
    return float(value)


def directional_derivative(
    f: Callable[[Tensor], Tensor], x: Tensor, v: Tensor, eps: float = 1e-6
) -> float:
    """Central difference ``(f(x + εv) - f(x - εv)) / 2ε ≈ ⟨∇f(x), v⟩`` for a scalar ``f``.

    Two evaluations of ``f`` whatever the size of ``x``: compare it with
    ``(grad * v).sum()`` to check a gradient of any size along a random direction ``v``.
    ``x`` and ``v`` must be float64 tensors of the same shape.
    """
    _check_float64(x, "x")
    _check_float64(v, "v")
    if x.shape != v.shape:
        raise ValueError(f"x has shape {tuple(x.shape)} but v has shape {tuple(v.shape)}.")
    with torch.no_grad():
        return (_scalar(f, x + eps * v) - _scalar(f, x - eps * v)) / (2 * eps)


def finite_difference_gradient(
    f: Callable[[Tensor], Tensor], x: Tensor, eps: float = 1e-6
) -> Tensor:
    """The gradient of a scalar ``f`` at ``x`` by central differences, one entry at a time.

    Costs ``2 * x.numel()`` evaluations of ``f``, so ``x`` may have at most 10 000 entries;
    for larger inputs use :func:`directional_derivative`. ``x`` must be float64; returns a
    float64 tensor shaped like ``x``.
    """
    _check_float64(x, "x")
    if x.numel() > MAX_FD_ENTRIES:
        raise ValueError(
            f"x has {x.numel()} entries, more than {MAX_FD_ENTRIES}: one-entry-at-a-time "
            "finite differences would be too slow; use directional_derivative instead."
        )
    grad = torch.empty_like(x)
    flat = grad.view(-1)
    basis = torch.zeros_like(x)
    basis_flat = basis.view(-1)
    for i in range(x.numel()):
        basis_flat[i] = 1.0
        flat[i] = directional_derivative(f, x, basis, eps)
        basis_flat[i] = 0.0
    return grad


def saved_tensor_bytes(fn: Callable[..., Tensor], *args, **kwargs) -> tuple[Tensor, int]:
    """Call ``fn(*args, **kwargs)`` and count the bytes autograd keeps for the backward pass.

    Every tensor that an operation saves for its backward is counted once per distinct
    storage (views of one tensor share it). This is the memory that backpropagation through
    ``fn`` needs on top of the inputs and outputs, measured exactly and the same on every
    machine. Returns ``(output, bytes)``.
    """
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*args, **kwargs)
    return out, sum(storages.values())


def vjp(
    f: Callable[..., Tensor], inputs: Tensor | tuple[Tensor, ...], cotangent: Tensor
) -> Tensor | tuple[Tensor, ...]:
    """The vector-Jacobian product ``cotangentᵀ ∂f/∂inputs``, by one reverse-mode pass.

    ``f(*inputs)`` returns a tensor shaped like ``cotangent``. The inputs are detached, so the
    result is a constant for any outer graph, and the pass runs with gradients enabled, so it
    also works inside a ``torch.autograd.Function.backward``. Returns one tensor per input,
    shaped like it (a single tensor when ``inputs`` is one tensor); an input ``f`` does not
    use gets zeros.
    """
    single = isinstance(inputs, Tensor)
    xs = (inputs,) if single else tuple(inputs)
    with torch.enable_grad():
        xs = tuple(x.detach().requires_grad_() for x in xs)
        out = f(*xs)
        if out.shape != cotangent.shape:
            raise ValueError(
                f"f returns shape {tuple(out.shape)} but the cotangent has shape "
                f"{tuple(cotangent.shape)}; they must match."
            )
        grads = torch.autograd.grad(out, xs, cotangent, allow_unused=True)
    grads = tuple(torch.zeros_like(x) if g is None else g for x, g in zip(xs, grads, strict=True))
    return grads[0] if single else grads
