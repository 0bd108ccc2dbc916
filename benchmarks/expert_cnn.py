"""Expert hand-written NumPy for convolutional nets: im2col + GEMM, written from the math.

Saito's chapter 7 Convolution and Pooling layers, as an engineer who tunes NumPy writes them,
independently of symbp's generator:

- activations live in NHWC inside the net (the channel axis last, so a convolution is one
  GEMM of the im2col matrix with the reshaped kernel, and no transpose follows it); the input
  is read from NCHW once, and the last pooled map is put back in NCHW order for the flatten
  (``torch.flatten(P, 1)`` order, so the dense weights mean the same as the model's);
- im2col is one copy of NumPy's ``sliding_window_view`` into a workspace (faster here than
  ``kh * kw`` strided copies); col2im adds the ``kh * kw`` column blocks back, laid out so that
  each block is contiguous; every buffer is allocated on the first call for a batch size;
- 2 x 2 max pooling is three ``np.maximum`` of strided views; its backward routes each
  gradient to the first maximum of its window in row-major order, as PyTorch does;
- the first convolution's input gradient is never computed (the input is data).

``CNN(image, convs, dense)``: ``convs`` is a list of ``(out_channels, kernel, padding)``, each
followed by ReLU and a 2 x 2 max-pool; ``dense`` the widths of the dense layers after the
flatten (ReLU between them, softmax cross-entropy on the last). Parameters are named as the
model in ``benchmarks.models.lenet`` names them: ``K1, c1, K2, c2, ...`` (kernels (Co, C, kh, kw),
biases (Co,)), then the dense layers' ``W1, b1, W2, b2, ...`` (biases (1, m)), numbered from 1.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .expert import _act_backward, _bias_grad, _ones, _softmax_ce


def _conv_shapes(image, convs):
    """Per conv layer: (C, H, W) in, kernel, padding, (Co, OH, OW) out, pooled (PH, PW)."""
    C, H, W = image
    layers = []
    for Co, k, p in convs:
        OH, OW = H + 2 * p - k + 1, W + 2 * p - k + 1
        layers.append({"C": C, "H": H, "W": W, "k": k, "p": p, "O": Co, "OH": OH, "OW": OW,
                       "PH": OH // 2, "PW": OW // 2})
        C, H, W = Co, OH // 2, OW // 2
    return layers, C * H * W


def _pool_views(Z, pooled):
    """``at(a, b)``: the entries at offset (a, b) of every 2 x 2 window of ``Z`` (NHWC), a view."""
    _, PH, PW, _ = pooled
    return lambda a, b: Z[:, a:2 * PH:2, b:2 * PW:2]


class CNN:
    """Conv (+ReLU +2x2 max-pool) layers, flatten, dense layers, softmax cross-entropy."""

    def __init__(self, image, convs, dense):
        self.layers, flat = _conv_shapes(image, convs)
        self.widths = [flat, *dense]
        self.ws = None

    def _workspace(self, n, dtype):
        ws = {"n": n, "dtype": dtype, "conv": [], "H": [], "D": [], "tmp": []}
        for L in self.layers:
            C, k, p, Co, OH, OW = L["C"], L["k"], L["p"], L["O"], L["OH"], L["OW"]
            ws["conv"].append({
                "Xp": np.zeros((n, L["H"] + 2 * p, L["W"] + 2 * p, C), dtype),   # padded input
                "col": np.empty((n * OH * OW, C * k * k), dtype),
                "Z": np.empty((n, OH, OW, Co), dtype),
                "P": np.empty((n, L["PH"], L["PW"], Co), dtype),
                "hit": np.empty((n, L["PH"], L["PW"], Co), bool),
                "taken": np.empty((n, L["PH"], L["PW"], Co), bool),
                "free": np.empty((n, L["PH"], L["PW"], Co), bool),
                "dZ": np.zeros((n, OH, OW, Co), dtype),        # rows/columns no window covers stay 0
                "dcol": np.empty((k * k * C, n * OH * OW), dtype),
                "dXp": np.empty((C, n, L["H"] + 2 * p, L["W"] + 2 * p), dtype),
                "mask": np.empty((n, OH, OW, Co), bool)})
        widths = self.widths
        ws["flat"] = np.empty((n, widths[0]), dtype)
        ws["dflat"] = np.empty((n, widths[0]), dtype)
        ws["H"] = [np.empty((n, m), dtype) for m in widths[1:]]
        ws["D"] = [np.empty((n, m), dtype) for m in widths[1:-1]]
        ws["tmp"] = [np.empty((n, m), dtype) for m in widths[1:-1]]
        ws["mask"] = [np.empty((n, m), bool) for m in widths[1:-1]]
        ws["ones"] = _ones(n, dtype)
        ws["grads"] = self._grads(dtype)
        return ws

    def _grads(self, dtype):
        g = {}
        for i, L in enumerate(self.layers, start=1):
            g[f"K{i}"] = np.empty((L["O"], L["C"], L["k"], L["k"]), dtype)
            g[f"c{i}"] = np.empty((L["O"],), dtype)
        for i, (a, b) in enumerate(zip(self.widths, self.widths[1:], strict=False), start=1):
            g[f"W{i}"] = np.empty((a, b), dtype)
            g[f"b{i}"] = np.empty((1, b), dtype)
        return g

    @staticmethod
    def _conv_forward(L, w, K, c):
        """ReLU(conv(Xp, K) + c) into ``w["Z"]``, then its 2x2 max-pool into ``w["P"]``."""
        k, Co = L["k"], L["O"]
        windows = sliding_window_view(w["Xp"], (k, k), axis=(1, 2))   # (n, OH, OW, C, kh, kw)
        Z = w["Z"].reshape(-1, Co)
        col = w["col"]
        col[...] = windows.reshape(col.shape)                # im2col: one copy
        np.matmul(col, K.reshape(Co, -1).T, out=Z)
        Z += c
        np.maximum(Z, 0, out=Z)
        P = w["P"]
        at = _pool_views(w["Z"], P.shape)
        np.maximum(at(0, 0), at(0, 1), out=P)                  # 2x2 windows, no copies
        np.maximum(P, at(1, 0), out=P)
        np.maximum(P, at(1, 1), out=P)

    @staticmethod
    def _conv_backward(L, w, K, dP, gK, gc, want_input):
        """From dL/dP (NHWC): the kernel and bias gradients, and dL/d(unpadded input) if wanted."""
        k, p, OH, OW, Co, C = L["k"], L["p"], L["OH"], L["OW"], L["O"], L["C"]
        n = dP.shape[0]
        Z, P, dZ, hit, taken = w["Z"], w["P"], w["dZ"], w["hit"], w["taken"]
        taken.fill(False)
        at, atd = _pool_views(Z, P.shape), _pool_views(dZ, P.shape)
        for a, b in ((0, 0), (0, 1), (1, 0), (1, 1)):         # windows' first maximum, row-major
            np.equal(at(a, b), P, out=hit)
            np.logical_and(hit, np.logical_not(taken, out=w["free"]), out=hit)
            np.logical_or(taken, hit, out=taken)
            np.multiply(dP, hit, out=atd(a, b))          # pooling routes to the maximum
        np.greater(Z, 0, out=w["mask"])                       # ReLU' from its output
        dZ *= w["mask"]
        rows = dZ.reshape(-1, Co)
        np.matmul(rows.T, w["col"], out=gK.reshape(Co, -1))
        np.add.reduce(rows, axis=0, out=gc)
        if not want_input:
            return None
        Kmat = K.transpose(2, 3, 1, 0).reshape(k * k * C, Co)
        dcol = np.matmul(Kmat, rows.T, out=w["dcol"]).reshape(k, k, C, n, OH, OW)
        dXp = w["dXp"]
        dXp.fill(0)
        for i in range(k):                                    # col2im: one add per offset
            for j in range(k):
                dXp[:, :, i:i + OH, j:j + OW] += dcol[i, j]
        return dXp[:, :, p:p + L["H"], p:p + L["W"]].transpose(1, 2, 3, 0)   # CNHW -> NHWC

    def loss_and_grad(self, params, X, Y):
        """``X``: (n, C, H, W) images; ``Y``: (n, classes) one-hot labels."""
        n = X.shape[0]
        ws = self.ws
        if ws is None or ws["n"] != n or ws["dtype"] != X.dtype:
            ws = self.ws = self._workspace(n, X.dtype)
        g, convs, nconv = ws["grads"], ws["conv"], len(self.layers)
        src = X.transpose(0, 2, 3, 1)                           # NCHW -> NHWC, read once
        for i, (L, w) in enumerate(zip(self.layers, convs, strict=True), start=1):
            p = L["p"]
            w["Xp"][:, p:p + L["H"], p:p + L["W"], :] = src
            self._conv_forward(L, w, params[f"K{i}"], params[f"c{i}"])
            src = w["P"]
        flat = ws["flat"].reshape(src.shape[0], src.shape[3], src.shape[1], src.shape[2])
        flat[...] = src.transpose(0, 3, 1, 2)                   # torch.flatten(P, 1) order
        inputs = [ws["flat"], *ws["H"]]
        last = len(self.widths) - 1
        for m in range(1, last + 1):
            Z = ws["H"][m - 1]
            np.matmul(inputs[m - 1], params[f"W{m}"], out=Z)
            Z += params[f"b{m}"]
            if m < last:
                np.maximum(Z, 0, out=Z)
        loss = _softmax_ce(ws["H"][-1], Y, n)
        G = ws["H"][-1]
        for m in range(last, 0, -1):
            W = params[f"W{m}"]
            np.matmul(inputs[m - 1].T, G, out=g[f"W{m}"])
            _bias_grad(G, ws["ones"], g[f"b{m}"])
            D = ws["D"][m - 2] if m > 1 else ws["dflat"]
            np.matmul(G, W.T, out=D)
            if m > 1:
                _act_backward("relu", D, ws["H"][m - 2], ws["tmp"][m - 2], ws["mask"][m - 2])
            G = D
        P = convs[-1]["P"]
        dP = ws["dflat"].reshape(n, P.shape[3], P.shape[1], P.shape[2]).transpose(0, 2, 3, 1)
        for i in range(nconv, 0, -1):
            dP = self._conv_backward(self.layers[i - 1], convs[i - 1], params[f"K{i}"], dP,
                                     g[f"K{i}"], g[f"c{i}"], want_input=i > 1)
        return loss, g
