"""A minimal reverse-mode automatic differentiation engine on scalars, in the style of
A. Karpathy's micrograd (``micrograd/engine.py``, MIT licence).

Every operation returns a new node ``out`` that remembers its inputs (``_prev``) and a closure
``_backward``. The closure is exactly one factor of the chain rule: for ``out = g(a, b)`` it adds

    a.grad += ∂g/∂a · out.grad,        b.grad += ∂g/∂b · out.grad,

so that, once every node that uses ``out`` has run, ``out.grad = ∂L/∂out`` is complete and is
passed on to the inputs. ``+=`` (not ``=``) because a node used twice receives one term per
use: the multivariate chain rule sums over all paths. :meth:`Value.backward` orders the graph
topologically (:func:`topological_order`) and calls the closures from the output back to the
inputs: this is reverse mode, one sweep for the gradient with respect to every input.

This is the reference for the exercises of ``day1_3_backpropagation``; ``from
course_utils.scalar_autodiff import Value``. New nodes are built with ``type(self)``, so a
subclass of :class:`Value` keeps its own class (and its own operations) through every operation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["Value", "topological_order"]


class Value:
    """A scalar node of a computational graph: its value ``data`` and ``grad`` = ∂L/∂(this node).

    ``grad`` starts at 0 and is filled by :meth:`backward` of a later node; reset the ``grad`` of
    parameters to 0 before each new backward pass (gradients accumulate, as in PyTorch).
    """

    def __init__(self, data: float, _children: tuple[Value, ...] = (), _op: str = ""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_children)
        self._op = _op
        self._backward: Callable[[], None] = lambda: None  # a leaf has nothing to pass on

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    def _lift(self, other: Value | float) -> Value:
        """``other`` as a node (a constant leaf when it is a plain number)."""
        return other if isinstance(other, Value) else type(self)(other)

    # --- the operations and their chain-rule factors -------------------------------------

    def __add__(self, other: Value | float) -> Value:
        """``out = a + b``; backward: ∂out/∂a = ∂out/∂b = 1."""
        other = self._lift(other)
        out = type(self)(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | float) -> Value:
        """``out = a · b``; backward: ∂out/∂a = b, ∂out/∂b = a."""
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, p: float) -> Value:
        """``out = a^p`` for a constant number ``p``; backward: ∂out/∂a = p a^(p-1)."""
        if isinstance(p, Value):
            raise TypeError("only constant exponents are supported: write (a.log() * b).exp().")
        out = type(self)(self.data**p, (self,), f"**{p:g}")

        def _backward():
            self.grad += p * self.data ** (p - 1) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        """``out = exp(a)``; backward: ∂out/∂a = exp(a) = out."""
        out = type(self)(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        """``out = log(a)`` for a > 0; backward: ∂out/∂a = 1/a."""
        out = type(self)(math.log(self.data), (self,), "log")

        def _backward():
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        """``out = tanh(a)``; backward: ∂out/∂a = 1 - tanh(a)² = 1 - out²."""
        out = type(self)(math.tanh(self.data), (self,), "tanh")

        def _backward():
            self.grad += (1.0 - out.data**2) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Value:
        """``out = max(a, 0)``; backward: ∂out/∂a = 1 if a > 0 else 0 (0 at the kink, as torch)."""
        out = type(self)(max(self.data, 0.0), (self,), "relu")

        def _backward():
            self.grad += (self.data > 0) * out.grad

        out._backward = _backward
        return out

    # --- composites: their gradients follow from the operations above --------------------

    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | float) -> Value:
        return self + (-self._lift(other))

    def __truediv__(self, other: Value | float) -> Value:
        return self * self._lift(other) ** -1.0

    def __radd__(self, other: float) -> Value:
        return self + other

    def __rsub__(self, other: float) -> Value:
        return self._lift(other) - self

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __rtruediv__(self, other: float) -> Value:
        return self._lift(other) / self

    # --- reverse mode ----------------------------------------------------------------------

    def backward(self) -> None:
        """Fill ``grad`` of every node of the graph with ∂(this node)/∂(node).

        Sets ``self.grad = 1`` and calls ``_backward`` of every node, output first, in reverse
        topological order: a node passes its gradient on only after all its users have added
        theirs. Cost: one call per node, about the cost of the forward pass.
        """
        order = topological_order(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


def topological_order(root: Value) -> list[Value]:
    """Every node that ``root`` depends on, each once and after all of its inputs (``_prev``);
    ``root`` comes last.

    A depth-first search that appends a node once all its inputs are appended (post-order).
    Written with an explicit stack rather than recursion, so deep graphs (long sums) do not
    hit Python's recursion limit.
    """
    order: list[Value] = []
    visited: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        elif id(node) not in visited:
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in node._prev if id(child) not in visited)
    return order
