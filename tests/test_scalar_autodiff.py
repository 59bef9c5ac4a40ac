"""The scalar reverse-mode engine of ``course_utils.scalar_autodiff``, checked against
torch.autograd."""

import math

import pytest
import torch

from course_utils.gradients import relative_error
from course_utils.scalar_autodiff import Value, topological_order

TOL = 1e-12  # both sides compute in float64; only the order of the roundings differs


def engine_gradient(fn, xs):
    """``(fn(xs), ∇fn(xs))`` by the scalar engine; ``fn`` takes and returns ``Value``s."""
    leaves = [Value(x) for x in xs]
    out = fn(*leaves)
    out.backward()
    return out.data, torch.tensor([leaf.grad for leaf in leaves], dtype=torch.float64)


def torch_gradient(fn, xs):
    """``(fn(xs), ∇fn(xs))`` by torch.autograd in float64; ``fn`` takes and returns tensors."""
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out = fn(*leaves)
    grads = torch.autograd.grad(out, leaves, allow_unused=True)
    grads = [torch.zeros(()) if g is None else g for g in grads]
    return out.item(), torch.stack(grads).double()


def gradient_error(engine_fn, torch_fn, xs):
    """Relative error of the engine's gradient, taking torch's as the truth (absolute error
    where torch's gradient is zero)."""
    value, grad = engine_gradient(engine_fn, xs)
    value_ref, grad_ref = torch_gradient(torch_fn, xs)
    assert value == pytest.approx(value_ref, rel=TOL, abs=TOL)
    return relative_error(grad, grad_ref)


# (engine expression, torch expression, points); the engine's methods mirror torch's functions
CASES = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, [(0.3, -1.7)]),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, [(0.3, -1.7), (2.0, 5.0)]),
    "pow": (lambda a: a**3, lambda a: a**3, [(0.7,), (-1.3,)]),
    "pow_negative": (lambda a: a**-1.5, lambda a: a**-1.5, [(0.7,), (2.3,)]),
    "exp": (lambda a: a.exp(), torch.exp, [(0.4,), (-2.0,)]),
    "log": (lambda a: a.log(), torch.log, [(0.4,), (3.0,)]),
    "tanh": (lambda a: a.tanh(), torch.tanh, [(0.4,), (-1.1,)]),
    "relu": (lambda a: a.relu(), torch.relu, [(0.4,), (-1.1,)]),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, [(0.3, -1.7)]),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [(0.3, -1.7)]),
    "neg": (lambda a: -a, lambda a: -a, [(0.3,)]),
    "constants": (
        lambda a: (2.0 - a) / 3.0 + 1.0 / a + 4.0 * a,
        lambda a: (2.0 - a) / 3.0 + 1.0 / a + 4.0 * a,
        [(0.6,)],
    ),
    # a node used several times (a appears on three paths): the gradients must accumulate
    "shared_nodes": (
        lambda a, b: (a * b + a.tanh()) * (a + b).exp() + a,
        lambda a, b: (a * b + a.tanh()) * (a + b).exp() + a,
        [(0.5, -0.8)],
    ),
    "softplus_loss": (
        lambda s: (1.0 + (-2.0 * s).exp()).log(),
        lambda s: torch.log(1.0 + torch.exp(-2.0 * s)),
        [(0.9,), (-0.4,)],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_operation_gradients_match_torch(name):
    engine_fn, torch_fn, points = CASES[name]
    for xs in points:
        error = gradient_error(engine_fn, torch_fn, xs)
        assert error < TOL, f"{name} at {xs}: relative error {error:.2e}"


def test_small_mlp_gradient_matches_torch():
    gen = torch.Generator().manual_seed(0)
    f64 = {"generator": gen, "dtype": torch.float64}
    w1, b1, w2, b2 = (torch.randn(*shape, **f64) for shape in [(4, 2), (4,), (1, 4), (1,)])
    inputs = torch.randn(5, 2, **f64)
    labels = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0], dtype=torch.float64)
    params = [w1, b1, w2, b2]
    flat = torch.cat([p.flatten() for p in params]).tolist()

    def torch_loss(*theta):
        theta = torch.stack(theta)
        sizes = [p.numel() for p in params]
        w1_, b1_, w2_, b2_ = (t.view_as(p) for t, p in zip(theta.split(sizes), params, strict=True))
        scores = (torch.tanh(inputs @ w1_.T + b1_) @ w2_.T + b2_).squeeze(1)
        return torch.log(1 + torch.exp(-labels * scores)).mean()

    def engine_loss(*theta):
        w1_ = [theta[2 * i : 2 * i + 2] for i in range(4)]
        b1_, w2_, b2_ = theta[8:12], theta[12:16], theta[16]
        total = 0.0
        for x, y in zip(inputs.tolist(), labels.tolist(), strict=True):
            hidden = [(w[0] * x[0] + w[1] * x[1] + b).tanh() for w, b in zip(w1_, b1_, strict=True)]
            score = sum((w * h for w, h in zip(w2_, hidden, strict=True)), b2_)
            total = total + (1.0 + (-y * score).exp()).log()
        return total / len(labels)

    error = gradient_error(engine_loss, torch_loss, flat)
    assert error < TOL, f"MLP gradient: relative error {error:.2e}"


class OverwritingValue(Value):
    """A deliberately wrong engine: multiplication *overwrites* the input gradients."""

    def __mul__(self, other):
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad = other.data * out.grad  # bug: '=' instead of '+='
            other.grad = self.data * out.grad

        out._backward = _backward
        return out


def test_the_comparison_catches_a_wrong_backward():
    fn, torch_fn, [xs] = CASES["shared_nodes"]
    leaves = [OverwritingValue(x) for x in xs]
    fn(*leaves).backward()
    wrong = torch.tensor([leaf.grad for leaf in leaves])
    _, right = torch_gradient(torch_fn, xs)
    error = relative_error(wrong, right)
    assert error > 1e-2, f"the overwriting bug went unnoticed (relative error {error:.2e})"
    # with a single use of each node, the bug is invisible: a check needs shared nodes
    assert gradient_error(lambda a, b: a * b, lambda a, b: a * b, (0.3, -1.7)) < TOL


def test_topological_order_puts_every_node_after_its_inputs_once():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c + b.exp()
    order = topological_order(e)
    assert order[-1] is e
    assert len(order) == len({id(node) for node in order}), "a node appears twice"
    position = {id(node): i for i, node in enumerate(order)}
    assert {id(n) for n in (a, b, c, d, e)} <= set(position)
    for node in order:
        for child in node._prev:
            assert position[id(child)] < position[id(node)], f"{child} after {node}"


def test_deep_graph_does_not_hit_the_recursion_limit():
    x = Value(0.5)
    total = x
    for _ in range(5000):
        total = total + x
    total.backward()
    assert x.grad == 5001.0


def test_constant_exponent_only_and_values():
    with pytest.raises(TypeError, match="constant exponents"):
        Value(2.0) ** Value(3.0)
    assert (Value(2.0) ** 3).data == 8.0
    assert Value(0.0).relu().data == 0.0
    assert Value(1.0).exp().data == pytest.approx(math.e)
    assert "grad" in repr(Value(1.0))


def test_subclasses_keep_their_class():
    class Mine(Value):
        pass

    out = (Mine(1.0) * 2.0 + 1.0).tanh() / 3.0
    assert type(out) is Mine
