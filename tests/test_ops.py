"""Each hand-derived backward pass in gradlab.ops against PyTorch autograd and differences.

Only the comparisons with autograd need PyTorch: each imports it, so that the others run
without it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab import ops

EPS = np.finfo(np.float64).eps
# float64 throughout; both sides evaluate the same closed forms, so they agree to a few
# ulps of the magnitudes involved. Tolerances below are small multiples of eps scaled
# by those magnitudes (relative where values are bounded away from 0, absolute otherwise).
RTOL = 64 * EPS


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_sigmoid_backward_matches_autograd(m, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    z, g = rng.normal(0, 8, m), rng.normal(0, 1, m)
    zt = torch.tensor(z, requires_grad=True)
    torch.sigmoid(zt).backward(torch.tensor(g))
    p = ops.sigmoid(z)
    np.testing.assert_allclose(p, torch.sigmoid(torch.tensor(z)).numpy(), rtol=RTOL, atol=EPS)
    np.testing.assert_allclose(
        ops.sigmoid_backward(p, g), zt.grad.numpy(), rtol=RTOL, atol=4 * EPS * np.abs(g).max()
    )


def test_sigmoid_is_finite_and_saturates_for_huge_logits():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is benign
        p = ops.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(p, [0.0, 0.5, 1.0])


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_relu_backward_matches_autograd(m, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    z, g = rng.normal(0, 1, m), rng.normal(0, 1, m)
    z[::3] = 0.0  # the kink: both take the derivative at 0 as 0
    zt = torch.tensor(z, requires_grad=True)
    torch.relu(zt).backward(torch.tensor(g))
    h = ops.relu(z)
    np.testing.assert_array_equal(h, torch.relu(torch.tensor(z)).numpy())
    np.testing.assert_array_equal(ops.relu_backward(h, g), zt.grad.numpy())


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 12), k=st.integers(2, 9), seed=st.integers(0, 2**32 - 1))
def test_softmax_rows_are_probabilities_and_match_torch(m, k, seed):
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(seed).normal(0, 30, size=(m, k))
    p = ops.softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=k * 4 * EPS)
    np.testing.assert_allclose(p, torch.softmax(torch.tensor(z), 1).numpy(), rtol=0, atol=8 * EPS)
    scale = np.abs(z - z.max(axis=1, keepdims=True)).max() + np.log(k)
    np.testing.assert_allclose(
        ops.log_softmax(z),
        torch.log_softmax(torch.tensor(z), 1).numpy(),
        rtol=0,
        atol=8 * EPS * scale,
    )


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 30),
    reduction=st.sampled_from(["mean", "sum"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_squared_error_and_gradient_match_autograd(m, reduction, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    pred, y = rng.normal(0, 3, m), rng.normal(0, 3, m)
    pt = torch.tensor(pred, requires_grad=True)
    sq = (pt - torch.tensor(y)) ** 2
    expected = sq.mean() if reduction == "mean" else 0.5 * sq.sum()
    expected.backward()
    loss, grad = ops.squared_error(pred, y, reduction)
    assert loss == pytest.approx(expected.item(), rel=m * 4 * EPS)
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=RTOL, atol=8 * EPS)


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 30),
    reduction=st.sampled_from(["mean", "sum"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_binary_cross_entropy_and_gradient_match_autograd(m, reduction, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 20, m)
    y = rng.integers(0, 2, m).astype(np.float64)
    zt = torch.tensor(z, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        zt, torch.tensor(y), reduction=reduction
    )
    expected.backward()
    loss, grad = ops.binary_cross_entropy(z, y, reduction)
    # per-point losses are up to |z| ~ 60 and sums of m of them lose ~m ulps
    assert loss == pytest.approx(expected.item(), rel=64 * m * EPS, abs=64 * m * EPS)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=RTOL, atol=8 * EPS)


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 20),
    k=st.integers(2, 9),
    reduction=st.sampled_from(["mean", "sum"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_cross_entropy_and_gradient_match_autograd(m, k, reduction, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 10, size=(m, k))
    y = rng.integers(0, k, m)
    zt = torch.tensor(z, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(zt, torch.tensor(y), reduction=reduction)
    expected.backward()
    loss, grad = ops.cross_entropy(z, y, reduction)
    scale = np.abs(z).max() + np.log(k)
    assert loss == pytest.approx(expected.item(), rel=0, abs=16 * m * EPS * scale)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=0, atol=8 * EPS)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 6), k=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
def test_cross_entropy_gradient_matches_central_differences(m, k, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, size=(m, k))
    y = rng.integers(0, k, m)
    _, grad = ops.cross_entropy(z, y)
    h = 1e-6
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        numeric[idx] = (ops.cross_entropy(zp, y)[0] - ops.cross_entropy(zm, y)[0]) / (2 * h)
    # central differences: truncation O(h^2 * f''') plus rounding O(eps * |f| / h)
    np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-8)


def test_cross_entropy_keeps_float32_logits_float32():
    z = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    _, grad = ops.cross_entropy(z, np.array([0, 1, 2, 0]))
    assert grad.dtype == np.float32
