"""The vocabulary, one record per primitive (see ``base.Primitive``).

Families: ``algebra`` (matrix products, sums, Hadamard products, transposes,
broadcasts, traces, inverses, entries), ``linalg`` (Kronecker products,
log-determinants), ``chain`` (``map`` and ``scalar`` nodes,
differentiated by SymPy), ``elementwise`` (scalar activations: sigmoid, ReLU,
leaky ReLU, softplus, log-sum-exp, SiLU, ELU), ``gaussian`` (GELU and the normal
``φ``, ``Φ``), ``norm`` (layer and batch norm, the causal mask of attention,
embeddings), ``rowwise`` (row-wise softmax, log-softmax and their cross-entropy), and the
tensor family: ``tensor`` (N-d symbols, flatten), ``conv`` (conv2d), ``pool`` (max- and
average-pooling) and ``einsum``. Importing this package registers them all; the graph, the
rule table, the tracer and the namer read the registry instead of tables of their own.
"""

from __future__ import annotations

from . import (  # registers them
    algebra,
    chain,
    conv,
    einsum,
    elementwise,
    gaussian,
    linalg,
    norm,
    pool,
    rowwise,
    tensor,
)
from .base import REGISTRY, Primitive, U, by_class, node_kinds, placeholder, recognise, register

__all__ = ["Primitive", "REGISTRY", "register", "node_kinds", "by_class", "recognise",
           "algebra", "chain", "elementwise", "gaussian", "linalg", "norm", "rowwise", "U",
           "placeholder", "conv", "einsum", "pool", "tensor"]
