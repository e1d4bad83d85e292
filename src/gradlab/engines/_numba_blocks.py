"""What the blocked kernels share (numba): how a batch is cut into row blocks, how a
block gathers its rows, how the blocks' gradients are added up, and how many blocks run
at once. Used by :mod:`gradlab.engines._numba_mlp` and :mod:`gradlab.engines._numba_softmax`.

A batch of ``m`` rows is cut into ``B`` blocks of ``ceil(m / B)`` rows (the last may be
shorter or empty), whatever the number of threads that run them, so that a fit gives
the same numbers on one machine however busy it is. Each block writes its share of the
gradient into its own row of ``G`` (B, P), laid out as the packed parameters; then every
thread adds up a range of columns, in block order (:func:`add_blocks`).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import sys
from collections.abc import Callable

import numba
import numpy as np

#: The shared library of Intel's oneTBB that numba's ``tbb`` threading layer loads.
TBB_LIBRARY = "libtbb.so.12"


def load_tbb() -> str | None:
    """Load the oneTBB library that pip installed with the ``fast`` extra, so that numba
    runs the blocks on its ``tbb`` threading layer; returns its path, or None where it is
    not installed or the user chose a layer (``NUMBA_THREADING_LAYER``).

    Why: numba prefers ``tbb``, then ``omp``. GNU OpenMP (``omp`` on Linux) is not
    fork-safe: a process forked from one that has run a blocked step (as
    ``multiprocessing`` does by default on Linux) was terminated at its own first blocked
    step ("fork() called from a process already using GNU OpenMP"); with ``tbb`` it fits
    (``tests/test_blocked_mlp.py``). pip puts the library in the environment's ``lib``
    folder, where numba's plain ``CDLL("libtbb.so.12")`` does not look; loaded once by
    its path, it is found by its name.
    """
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return None
    try:
        files = importlib.metadata.files("tbb") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name == TBB_LIBRARY:
            path = str(entry.locate())
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                return None
            return path
    return None


load_tbb()  # before numba starts its threads, at the blocked kernels' first call

#: Whether this process was forked from one whose numba threads ran on GNU OpenMP.
_forked_from_openmp = False


def _after_fork_in_child() -> None:
    global _forked_from_openmp
    try:
        layer = numba.threading_layer()  # type: ignore[attr-defined]
    except ValueError:  # no parallel kernel had run: no threads to inherit
        return
    if layer == "omp" and sys.platform.startswith("linux"):
        _forked_from_openmp = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def forked_from_openmp() -> bool:
    """Whether this process was forked (``os.fork``, ``multiprocessing`` on Linux) from
    one that had run a blocked kernel on numba's ``omp`` layer, GNU OpenMP on Linux:
    numba terminates such a child at its first parallel kernel ("fork() called from a
    process already using GNU OpenMP"), so the engine must not call one. Without oneTBB
    (numba installed without the ``fast`` extra) numba picks that layer."""
    return _forked_from_openmp


#: Parameters per chunk of the blocks' sum.
CHUNK = 8192


@numba.njit(cache=True, nogil=True)
def block_rows(p: int, n_blocks: int, m: int) -> tuple[int, int]:
    """Block ``p``'s first row and row count, of ``m`` rows cut into ``n_blocks`` blocks of
    ``ceil(m / n_blocks)`` (the last ones shorter or empty)."""
    rows = (m + n_blocks - 1) // n_blocks
    r0 = min(p * rows, m)
    return r0, min(r0 + rows, m) - r0


@numba.njit(cache=True, nogil=True, boundscheck=False)
def labels_in_range(y: np.ndarray, r0: int, mr: int, classes: int) -> bool:
    """Whether ``y[r0 : r0 + mr]`` are all class numbers, ``0 <= y < classes``; a block
    checks its rows before it reads ``y`` as an index (the kernels run unchecked)."""
    for i in range(r0, r0 + mr):  # noqa: SIM110  (a loop numba compiles, not a generator)
        if y[i] < 0 or y[i] >= classes:
            return False
    return True


@numba.njit(cache=True, nogil=True, boundscheck=False)
def totals(stats: np.ndarray) -> tuple[float, int]:
    """The blocks' summed loss and number right, in block order, from ``stats`` (B, 2);
    ``(0.0, -1)`` if a block found a label that is not a class (``stats[p, 1] < 0``)."""
    loss = 0.0
    correct = 0
    for p in range(stats.shape[0]):
        if stats[p, 1] < 0:
            return 0.0, -1
        loss += stats[p, 0]
        correct += int(stats[p, 1])
    return loss, correct


@numba.njit(cache=True, nogil=True, boundscheck=False)
def gather(X: np.ndarray, idx: np.ndarray, r0: int, x: np.ndarray) -> None:
    """``x[i] = X[idx[r0 + i]]``, cast to ``x``'s dtype; a negative index counts from the
    end, as NumPy's does (the caller has checked the indices)."""
    n = X.shape[0]
    for i in range(x.shape[0]):
        src = idx[r0 + i]
        if src < 0:
            src += n
        row = X[src]
        out = x[i]
        for j in range(row.shape[0]):
            out[j] = row[j]


@numba.njit(cache=True, nogil=True, boundscheck=False)
def copy_rows(X: np.ndarray, start: int, x: np.ndarray) -> None:
    """``x[i] = X[start + i]``, cast to ``x``'s dtype."""
    for i in range(x.shape[0]):
        src = X[start + i]
        out = x[i]
        for j in range(src.shape[0]):
            out[j] = src[j]


@numba.njit(cache=True, nogil=True, boundscheck=False)
def add_blocks(G: np.ndarray, flat: np.ndarray, chunk: int, plain: bool) -> None:
    """Columns ``chunk * CHUNK`` onwards (one chunk) of the blocks' sum, in block order:
    into ``G[0]``, or with ``plain`` subtracted from ``flat`` (plain SGD's step, the rate
    folded into the gradient; ``G[0]`` then keeps the first block's share).

    Each loop runs along one row of ``G``, so that it is vectorised: a loop over the
    blocks inside the loop over the columns was not, and took 4-5x as long (23 us against
    5 us for softmax regression's 7,850 parameters in two blocks)."""
    n_blocks, P = G.shape
    lo = chunk * CHUNK
    hi = min(lo + CHUNK, P)
    first = G[0]
    if plain:
        total = first[lo:hi].copy()
        for q in range(1, n_blocks):
            share = G[q]
            for i in range(hi - lo):
                total[i] += share[lo + i]
        out = flat[lo:hi]
        for i in range(hi - lo):
            out[i] -= total[i]
    else:
        for q in range(1, n_blocks):
            share = G[q]
            for i in range(lo, hi):
                first[i] += share[i]


def thread_setter(blocks: int) -> Callable[[int], int]:
    """A function that runs up to ``n`` of ``blocks`` blocks at once (numba's threads) and
    returns how many threads numba had before, to set back afterwards."""

    def set_threads(n: int) -> int:
        before = numba.get_num_threads()
        numba.set_num_threads(max(1, min(int(n), blocks, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
        return int(before)

    return set_threads
