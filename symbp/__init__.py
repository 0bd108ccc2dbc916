"""symbp: derive, explain and ship backpropagation for SymPy networks.

>>> import sympy as sp, symbp as sb
>>> x, w = sp.symbols("x w")
>>> d = sb.derive(sb.Model((w * x - 1) ** 2, params=[w]))
>>> print(d)
# model: forward
z1 = w·x - 1
L = z1^2
# backward
z1_bar = 2·z1
w_bar = meanₙ(x·z1_bar)
>>> d.gradients[w]
BatchMean(x*z1_bar)
"""

from . import tensors  # sb.tensors.shape(expr)
from .check import Report, check
from .codegen import compile_module as compile
from .codegen import emit, generate
from .derive import derive
from .dot import graph_dot, render_graph
from .errors import SymbpError
from .explain import explain  # the function (the module stays importable as symbp.explain)
from .functions import (
    dense,
    leaky_relu,
    log_softmax,
    mse,
    relu,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    softplus,
    tanh,
)
from .ir import Derivation, Step
from .latex import latex_document
from .lesson import lesson_html
from .model import Model
from .nn import add, attention, batch_norm, elu, embedding, gelu, layer_norm, silu
from .tensors import avg_pool2d, conv2d, einsum, flatten, max_pool2d, tensor
from .version import __version__

__all__ = [
    "Model", "Derivation", "Step", "SymbpError", "derive", "generate", "emit", "compile",
    "check", "Report", "explain", "latex_document", "lesson_html", "graph_dot", "render_graph",
    "dense", "sigmoid", "relu", "leaky_relu", "softplus", "tanh", "softmax", "log_softmax",
    "softmax_cross_entropy", "mse", "__version__",
    "gelu", "silu", "elu", "layer_norm", "batch_norm", "attention", "embedding", "add",
]
__all__ += ["tensor", "conv2d", "max_pool2d", "avg_pool2d", "flatten", "einsum", "tensors"]
