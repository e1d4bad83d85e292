"""Experiment: how to split the MLP's first weight gradient over two cores.

The blocked step (:mod:`gradlab.engines._numba_mlp`) gives each core a block of 128 of
the batch's 256 rows. Each block computes its own share of every weight gradient, and
then the shares are added up: for the first layer that is ``x.T @ dh1`` with an inner
dimension of 128, and a sum over 156,800 values a step. Two other arrangements compute
the first layer's gradient over the whole batch, once, and split its *output* between
the cores instead, so nothing is summed:

``rows``
    what the engine does: per block all eight products, then the blocks' shares added
    and subtracted from the weights (plain SGD);
``features``
    the batch's inputs kept as two halves of 392 features; the forward product is two
    products of 392 (added), and each core computes the gradient of the 392 weight rows
    of its half over all 256 rows, and updates them;
``outputs``
    the first layer's weights kept transposed (200, 784); ``dh1`` is computed as two
    halves of 100 units, and each core computes the gradient of its 100 units over all
    256 rows, and updates them.

Only the products and the update are timed (the element-wise passes are the same in
all three), at the benchmark's shapes (784-200-200-10, batch 256), BLAS on one thread,
the blocks on two of numba's threads. The arrangements take turns in rounds of random
order; per arrangement, the best step and the median of its time over ``rows``'s in the
same round. First each is checked to compute the same first-layer activations and the
same updated weights as ``rows`` from the same numbers (float32 rounding apart). With
``--gather`` each step starts as the engine's does: the blocks cast the batch's rows of
uint8 images into the arrangement's inputs (so a core may then read what the other has
just written). Run from the repository root::

    python -m bench.experiments.gradient_split [--rounds 20] [--steps 200] [--gather]

Not part of the benchmark: it backs docs/performance.md's paragraph on this split.
"""

from __future__ import annotations

import argparse
import random
import time

import numba
import numpy as np

M, HALF, D, H1, H2, K = 256, 128, 784, 200, 200, 10
DH, UH = D // 2, H1 // 2  # the feature halves and the unit halves
CHUNK = 8192


@numba.njit(cache=False, boundscheck=False)
def _subtract_sum(flat: np.ndarray, a: np.ndarray, b: np.ndarray, lo: int, hi: int) -> None:
    for i in range(lo, hi):
        flat[i] -= a[i] + b[i]


@numba.njit(parallel=True, cache=False, boundscheck=False)
def _small_layers_update(W2, W3, G2, G3):  # type: ignore[no-untyped-def]
    """Layers 2 and 3 are summed over the blocks in every arrangement."""
    f2, a2, b2 = W2.ravel(), G2[0].ravel(), G2[1].ravel()
    for ch in numba.prange((f2.shape[0] + CHUNK - 1) // CHUNK):
        _subtract_sum(f2, a2, b2, ch * CHUNK, min(ch * CHUNK + CHUNK, f2.shape[0]))
    _subtract_sum(W3.ravel(), G3[0].ravel(), G3[1].ravel(), 0, W3.size)


@numba.njit(cache=False, boundscheck=False)
def block_products(p, xs, W1, W2, W3, A1, A2, Z, D2, D1, G1, G2, G3):  # type: ignore[no-untyped-def]
    """Block ``p``'s eight products of a step, forward then backward, as the engine's."""
    np.dot(xs[p], W1, A1[p])
    np.dot(A1[p], W2, A2[p])
    np.dot(A2[p], W3, Z[p])
    np.dot(A2[p].T, Z[p], G3[p])
    np.dot(Z[p], W3.T, D2[p])
    np.dot(A1[p].T, D2[p], G2[p])
    np.dot(D2[p], W2.T, D1[p])
    np.dot(xs[p].T, D1[p], G1[p])


@numba.njit(parallel=True, cache=False, boundscheck=False)
def by_rows(xs, W1, W2, W3, A1, A2, Z, D2, D1, G1, G2, G3):  # type: ignore[no-untyped-def]
    for p in numba.prange(2):
        block_products(p, xs, W1, W2, W3, A1, A2, Z, D2, D1, G1, G2, G3)
    f1, a1, b1 = W1.ravel(), G1[0].ravel(), G1[1].ravel()
    for ch in numba.prange((f1.shape[0] + CHUNK - 1) // CHUNK):
        _subtract_sum(f1, a1, b1, ch * CHUNK, min(ch * CHUNK + CHUNK, f1.shape[0]))


@numba.njit(parallel=True, cache=False, boundscheck=False)
def by_features(XH, W1, W2, W3, A1, T1, A2, Z, D2, D1, G1, G2, G3):  # type: ignore[no-untyped-def]
    for p in numba.prange(2):
        r0 = p * HALF
        np.dot(XH[0, r0 : r0 + HALF], W1[:DH], A1[p])
        np.dot(XH[1, r0 : r0 + HALF], W1[DH:], T1[p])
        a, t = A1[p], T1[p]
        for i in range(HALF):
            for j in range(H1):
                a[i, j] += t[i, j]
        np.dot(A1[p], W2, A2[p])
        np.dot(A2[p], W3, Z[p])
        np.dot(A2[p].T, Z[p], G3[p])
        np.dot(Z[p], W3.T, D2[p])
        np.dot(A1[p].T, D2[p], G2[p])
        np.dot(D2[p], W2.T, D1[r0 : r0 + HALF])
    for q in numba.prange(2):
        g = G1[q * DH : (q + 1) * DH]
        np.dot(XH[q].T, D1, g)
        w = W1[q * DH : (q + 1) * DH]
        for i in range(DH):
            for j in range(H1):
                w[i, j] -= g[i, j]


@numba.njit(parallel=True, cache=False, boundscheck=False)
def by_outputs(X, W1T, W2, W3, A1, A2, Z, D2, D1H, G1T, G2, G3):  # type: ignore[no-untyped-def]
    for p in numba.prange(2):
        r0 = p * HALF
        np.dot(X[r0 : r0 + HALF], W1T.T, A1[p])
        np.dot(A1[p], W2, A2[p])
        np.dot(A2[p], W3, Z[p])
        np.dot(A2[p].T, Z[p], G3[p])
        np.dot(Z[p], W3.T, D2[p])
        np.dot(A1[p].T, D2[p], G2[p])
        for q in range(2):
            np.dot(D2[p], W2[q * UH : (q + 1) * UH].T, D1H[q, r0 : r0 + HALF])
    for q in numba.prange(2):
        np.dot(D1H[q].T, X, G1T[q])
        w, g = W1T[q * UH : (q + 1) * UH], G1T[q]
        for i in range(UH):
            for j in range(D):
                w[i, j] -= g[i, j]


@numba.njit(parallel=True, cache=False, boundscheck=False)
def gather_rows(X8, idx, xs):  # type: ignore[no-untyped-def]
    """Each block casts its rows of the batch: ``xs[p]`` (HALF, D), as the engine does."""
    for p in numba.prange(2):
        for i in range(HALF):
            src, out = X8[idx[p * HALF + i]], xs[p, i]
            for j in range(D):
                out[j] = src[j]


@numba.njit(parallel=True, cache=False, boundscheck=False)
def gather_features(X8, idx, XH):  # type: ignore[no-untyped-def]
    """Each block casts its rows of the batch into both feature halves ``XH[q]`` (M, DH)."""
    for p in numba.prange(2):
        for i in range(p * HALF, (p + 1) * HALF):
            src = X8[idx[i]]
            for q in range(2):
                out = XH[q, i]
                for j in range(DH):
                    out[j] = src[q * DH + j]


def arrangements(seed: int = 0) -> dict[str, tuple]:  # type: ignore[type-arg]
    """Each arrangement's function and arguments, from the same batch and weights;
    the first-layer weights each updates are its second argument (transposed for
    ``outputs``), its first-layer activations its fifth."""
    rng = np.random.default_rng(seed)

    def f(*shape: int) -> np.ndarray:
        return ((rng.random(shape, dtype=np.float32) - 0.5) * 0.1).astype(np.float32)

    X, W1, W2, W3 = f(M, D), f(D, H1), f(H1, H2), f(H2, K)

    def rest() -> tuple[np.ndarray, ...]:
        return f(2, HALF, H2), f(2, HALF, K), f(2, HALF, H2)

    A2, Z, D2 = rest()
    XH = np.stack([np.ascontiguousarray(X[:, :DH]), np.ascontiguousarray(X[:, DH:])])
    return {
        "rows": (by_rows, (X.reshape(2, HALF, D).copy(), W1.copy(), W2.copy(), W3.copy(),
                 np.zeros((2, HALF, H1), np.float32), A2.copy(), Z.copy(), D2.copy(),
                 np.zeros((2, HALF, H1), np.float32), np.zeros((2, D, H1), np.float32),
                 np.zeros((2, H1, H2), np.float32), np.zeros((2, H2, K), np.float32))),
        "features": (by_features, (XH, W1.copy(), W2.copy(), W3.copy(),
                     np.zeros((2, HALF, H1), np.float32), np.zeros((2, HALF, H1), np.float32),
                     A2.copy(), Z.copy(), D2.copy(), np.zeros((M, H1), np.float32),
                     np.zeros((D, H1), np.float32), np.zeros((2, H1, H2), np.float32),
                     np.zeros((2, H2, K), np.float32))),
        "outputs": (by_outputs, (X.copy(), np.ascontiguousarray(W1.T), W2.copy(), W3.copy(),
                    np.zeros((2, HALF, H1), np.float32), A2.copy(), Z.copy(), D2.copy(),
                    np.zeros((2, M, UH), np.float32), np.zeros((2, UH, D), np.float32),
                    np.zeros((2, H1, H2), np.float32), np.zeros((2, H2, K), np.float32))),
    }  # fmt: skip


def check(runs: dict[str, tuple]) -> float:  # type: ignore[type-arg]
    """One call of each from the same numbers; the largest difference from ``rows`` in
    the first layer's activations and in its weights' step, relative to their largest
    value."""
    before = runs["rows"][1][1].copy()
    for fn, args in runs.values():
        fn(*args)
    a_ref = runs["rows"][1][4].reshape(M, H1)
    step_ref = before - runs["rows"][1][1]
    worst = 0.0
    for name, (_, args) in runs.items():
        a = args[4].reshape(M, H1)
        step = before - (args[1].T if name == "outputs" else args[1])
        worst = max(worst, float(np.abs(a - a_ref).max() / np.abs(a_ref).max()))
        worst = max(worst, float(np.abs(step - step_ref).max() / np.abs(step_ref).max()))
    return worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--steps", type=int, default=200, help="steps per timing")
    p.add_argument(
        "--gather",
        action="store_true",
        help="each step, the blocks first gather and cast the batch's rows of uint8 images "
        "into the arrangement's inputs, as the engine does",
    )
    args = p.parse_args()
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    runs = arrangements()
    print(f"same numbers as 'rows': largest relative difference {check(runs):.2e}")
    X8 = np.random.default_rng(1).integers(0, 256, (60000, D), dtype=np.uint8)
    batches = [np.random.default_rng(2 + i).permutation(60000)[:M] for i in range(8)]

    def gather(name: str, fargs: tuple, i: int) -> None:  # type: ignore[type-arg]
        if not args.gather:
            return
        idx = batches[i % len(batches)]
        if name == "rows":
            gather_rows(X8, idx, fargs[0])
        elif name == "features":
            gather_features(X8, idx, fargs[0])
        else:  # "outputs": the blocks' rows of one (M, D) array
            gather_rows(X8, idx, fargs[0].reshape(2, HALF, D))

    for name, (_, fargs) in runs.items():  # compiled before any timing
        _small_layers_update(fargs[2], fargs[3], fargs[-2], fargs[-1])
        gather(name, fargs, 0)
    start_weights = {name: [a.copy() for a in fargs[1:4]] for name, (_, fargs) in runs.items()}
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    times: dict[str, list[float]] = {name: [] for name in runs}
    with ThreadpoolController().select(user_api="blas").limit(limits=1):
        for _ in range(args.rounds):
            order = list(runs)
            random.shuffle(order)
            for name in order:
                fn, fargs = runs[name]
                for a, a0 in zip(fargs[1:4], start_weights[name], strict=True):
                    np.copyto(a, a0)  # the weights of every timing start alike
                start = time.perf_counter()
                for i in range(args.steps):
                    gather(name, fargs, i)
                    fn(*fargs)
                    _small_layers_update(fargs[2], fargs[3], fargs[-2], fargs[-1])
                times[name].append((time.perf_counter() - start) / args.steps)
    base = np.array(times["rows"])
    what = "the gather, products" if args.gather else "products"
    print(f"\n{what} and plain SGD's update of one step, {args.rounds} rounds of "
          f"{args.steps} steps; ratio to 'rows' in the same round: median [quartiles]")  # fmt: skip
    for name, t in times.items():
        r = np.array(t) / base
        q1, med, q3 = np.percentile(r, [25, 50, 75])
        print(f"  {name:9s} x{med:.3f} [{q1:.3f}-{q3:.3f}]  best {min(t) * 1e6:7.1f} us")


if __name__ == "__main__":
    main()
