"""The norm, attention, embedding, batch and einsum classes have exact entry-wise values:
``doit`` of each class on explicit arguments, and its single entries, equal NumPy's result
computed independently on the same random values."""

import numpy as np
import pytest
import sympy as sp

from symbp.primitives.einsum import Einsum, spec_of
from symbp.primitives.norm import CausalMask, Embedding, InvStd, Normalize, ScatterRows, StatMean
from symbp.primitives.tensor import BatchBroadcast, BatchSum, TensorSymbol

RNG = np.random.default_rng(7)
EPS = 1e-5


def explicit(array):
    return sp.ImmutableMatrix(np.atleast_2d(array).tolist())


def floats(matrix) -> np.ndarray:
    return np.array(sp.Matrix(matrix).evalf(), dtype=float)


def assert_value(expr, want):
    """``expr`` equals ``want`` made explicit by ``doit`` and entry by entry."""
    want = np.atleast_2d(want)
    got = expr.doit()
    assert isinstance(got, sp.MatrixBase), type(got)
    np.testing.assert_allclose(floats(got), want, rtol=1e-12, atol=1e-12)
    rows, cols = want.shape
    for i, j in [(0, 0), (rows - 1, cols - 1), (rows // 2, cols // 3)]:
        assert float(expr[i, j].evalf()) == pytest.approx(want[i, j], rel=1e-12, abs=1e-12)


X = RNG.normal(size=(4, 5))


@pytest.mark.parametrize("axis", [1, 0])
def test_inverse_std_is_one_over_numpys_biased_std(axis):
    want = 1 / np.sqrt(X.var(axis=axis, keepdims=True) + EPS)
    assert_value(InvStd(explicit(X), EPS, axis), want)


@pytest.mark.parametrize("axis", [1, 0])
def test_stat_mean_is_numpys_mean_broadcast_back(axis):
    want = np.broadcast_to(X.mean(axis=axis, keepdims=True), X.shape)
    assert_value(StatMean(explicit(X), axis), want)


@pytest.mark.parametrize("axis", [1, 0])
def test_normalize_centres_and_scales_by_the_given_inverse_std(axis):
    r = RNG.uniform(0.5, 2.0, size=(4, 1) if axis == 1 else (1, 5))  # any R, not only 1/σ
    want = (X - X.mean(axis=axis, keepdims=True)) * r
    assert_value(Normalize(explicit(X), explicit(r), axis), want)


def test_normalize_of_a_symbolic_matrix_reads_its_entries():
    x, r = sp.MatrixSymbol("x", 2, 2), sp.MatrixSymbol("r", 2, 1)
    assert sp.simplify(Normalize(x, r, 1)[1, 0] - (x[1, 0] - x[1, 1]) / 2 * r[1, 0]) == 0


def test_causal_mask_hides_the_future_of_a_matrix():
    s = RNG.normal(size=(3, 3))
    want = np.where(np.tri(3, 3, dtype=bool), s, -np.inf)
    got = CausalMask(explicit(s)).doit()
    assert floats(got).tolist() == want.tolist()
    assert CausalMask(explicit(s))[0, 2] == -sp.oo and CausalMask(explicit(s))[2, 0] == s[2, 0]


def test_batched_causal_mask_hides_the_future_of_every_sequence():
    s = RNG.normal(size=(2, 3, 3))
    want = np.where(np.tri(3, 3, dtype=bool), s, -np.inf).reshape(2, 9)
    mask = CausalMask(explicit(s.reshape(2, 9)), batched=1)
    assert floats(mask.doit()).tolist() == want.tolist()
    assert mask[1, 5] == -sp.oo and mask[1, 7] == s[1, 2, 1]


def test_embedding_picks_the_rows_named_by_the_ids():
    table, ids = RNG.normal(size=(4, 3)), np.array([[2], [0], [2], [3], [1]])
    assert_value(Embedding(explicit(ids), explicit(table)), table[ids[:, 0]])


def test_embedding_of_symbolic_ids_is_a_one_hot_sum():
    ids, table = sp.MatrixSymbol("ids", 2, 1), explicit([[1, 2], [3, 4]])
    entry = Embedding(ids, table)[1, 0]
    assert entry.subs(ids[1, 0], 1).doit() == 3 and entry.subs(ids[1, 0], 0).doit() == 1


def test_scatter_rows_adds_each_row_into_the_row_its_id_names():
    g, ids = RNG.normal(size=(5, 3)), np.array([[2], [0], [2], [3], [0]])
    want = np.zeros((4, 3))
    np.add.at(want, ids[:, 0], g)
    assert_value(ScatterRows(explicit(ids), explicit(g), 4), want)


def test_batch_sum_adds_the_sequences_of_a_batch():
    g = RNG.normal(size=(3, 2, 4))
    assert_value(BatchSum(explicit(g.reshape(3, 8)), 2, 4), g.sum(axis=0))


def test_batch_broadcast_repeats_the_matrix_for_every_sequence():
    p = RNG.normal(size=(2, 4))
    assert_value(BatchBroadcast(explicit(p), 3), np.broadcast_to(p, (3, 2, 4)).reshape(3, 8))


EINSUMS = [("ntd,nsd->nts", [(2, 3, 4), (2, 3, 4)]), ("nts,nsd->ntd", [(2, 3, 3), (2, 3, 4)]),
           ("nij,jk->nik", [(2, 3, 4), (4, 5)]), ("ij,jk->ik", [(3, 4), (4, 2)]),
           ("ij,j->i", [(3, 4), (4,)]), ("nij,nij->ij", [(2, 3, 2), (2, 3, 2)])]


@pytest.mark.parametrize("spec, shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum_of_explicit_operands_is_numpys_einsum(spec, shapes):
    arrays = [RNG.normal(size=s) for s in shapes]
    views = [explicit(a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1))
             for a in arrays]
    want = np.einsum(spec, *arrays)
    want = want.reshape(1, -1) if want.ndim == 1 else want.reshape(want.shape[0], -1)
    assert_value(Einsum(*views, spec_of(spec, shapes)), want)


def test_einsum_of_symbolic_operands_stays_unevaluated():
    a = TensorSymbol("A", (2, 3, 4))
    e = Einsum(a, a, spec_of("ntd,nsd->nts", [(2, 3, 4), (2, 3, 4)]))
    assert isinstance(e.doit(), Einsum)
    assert e[1, 5] == sum(a[1, 4 + k] * a[1, 8 + k] for k in range(4))
