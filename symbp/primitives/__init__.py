"""The vocabulary, one record per primitive (see ``base.Primitive``).

Families: ``algebra`` (matrix products, sums, Hadamard products, transposes,
broadcasts, traces, inverses, entries), ``chain`` (``map`` and ``scalar`` nodes,
differentiated by SymPy), ``elementwise`` (scalar activations: sigmoid, ReLU,
leaky ReLU, softplus, log-sum-exp) and ``rowwise`` (row-wise softmax, log-softmax and their
cross-entropy), and the tensor family: ``tensor`` (N-d symbols, flatten), ``conv``
(conv2d), ``pool`` (max- and average-pooling) and ``einsum``. Importing this package
registers them all; the graph, the rule table, the tracer and the namer read the registry
instead of tables of their own.
"""

from __future__ import annotations

from . import algebra, chain, conv, einsum, elementwise, pool, rowwise, tensor  # registers them
from .base import REGISTRY, Primitive, U, by_class, node_kinds, placeholder, recognise, register

__all__ = ["Primitive", "REGISTRY", "register", "node_kinds", "by_class", "recognise",
           "algebra", "chain", "elementwise", "rowwise", "U", "placeholder",
           "conv", "einsum", "pool", "tensor"]
