"""The blocked kernels' float32 product (gradlab.engines._numba_gemm): equal to NumPy's
for every layout the kernels use, with either BLAS, and chosen as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradlab.optim import compiled

pytestmark = pytest.mark.skipif(
    not compiled.available(), reason="numba is not installed (gradlab[fast])"
)

TESTS = Path(__file__).parent


def _gemm_kernel():  # type: ignore[no-untyped-def]
    import numba

    from gradlab.engines._numba_gemm import gemm, one_blas_thread

    @numba.njit(cache=False)
    def product(A, B, C):  # type: ignore[no-untyped-def]
        one_blas_thread()
        gemm(A, B, C)

    return product


@pytest.mark.parametrize("shape", [(128, 784, 200), (3, 5, 7), (1, 4, 1), (5, 1, 3), (2, 3, 1)])
@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("b_transposed", [False, True])
def test_the_product_equals_numpys_for_row_and_column_major_operands(
    shape: tuple[int, int, int], a_transposed: bool, b_transposed: bool
) -> None:
    """The kernels pass ``h.T`` and ``W.T`` (column-major views) as well as plain rows; a
    float32 product of k terms is within k * 2**-24 * sum(|a| |b|) of the exact one."""
    m, k, n = shape
    rng = np.random.default_rng(sum(shape))
    A = rng.standard_normal((k, m) if a_transposed else (m, k), dtype=np.float32)
    B = rng.standard_normal((n, k) if b_transposed else (k, n), dtype=np.float32)
    A, B = (A.T if a_transposed else A), (B.T if b_transposed else B)
    C = np.full((m, n), np.nan, np.float32)
    _gemm_kernel()(A, B, C)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    bound = (k + 1) * 2.0**-24 * (np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64))
    assert np.all(np.abs(C - exact) <= bound)


@pytest.mark.parametrize("shape", [(0, 3, 4), (3, 0, 4), (3, 4, 0)])
def test_an_empty_product_is_zeros_or_nothing(shape: tuple[int, int, int]) -> None:
    m, k, n = shape
    C = np.full((m, n), np.nan, np.float32)
    _gemm_kernel()(np.ones((m, k), np.float32), np.ones((k, n), np.float32), C)
    assert np.array_equal(C, np.zeros((m, n), np.float32))


def test_other_float_types_keep_numbas_product() -> None:
    A, B = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    C = np.empty((2, 4))
    _gemm_kernel()(A, B, C)
    assert np.array_equal(C, A @ B)


def _chosen(blas: str) -> str:
    env = {**os.environ, "GRADLAB_BLAS": blas}
    code = "from gradlab.engines import _numba_gemm; print(_numba_gemm.BLAS)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _mkl_here() -> bool:
    from gradlab.engines import _numba_gemm

    return _numba_gemm._torch_library() is not None


@pytest.mark.parametrize("blas", ["mkl", "openblas"])
def test_each_blas_passes_the_blocked_steps_checks(blas: str) -> None:
    """The process's choice is for good (the symbol is linked once), so each BLAS runs
    the blocked step's checks against the reference step in a process of its own."""
    if blas == "mkl" and not _mkl_here():
        pytest.skip("PyTorch's library with MKL is not installed")
    assert _chosen(blas) == blas
    checks = "equals_the_reference or logits_equal or same_bits or negative_rows"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", checks,
         str(TESTS / "test_blocked_mlp.py")],
        env={**os.environ, "GRADLAB_BLAS": blas}, capture_output=True, text=True, cwd=TESTS,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert "failed" not in done.stdout


def test_unset_the_blas_is_mkl_exactly_where_pytorch_ships_it_and_the_cpu_prefers_it() -> None:
    from gradlab.engines import _numba_gemm

    expected = "mkl" if _mkl_here() and _numba_gemm.mkl_preferred() else "openblas"
    assert _chosen("") == expected


@pytest.mark.parametrize(
    ("vendor", "flags", "preferred"),
    [
        ("GenuineIntel", "fpu sse2 avx2 avx512f", True),
        ("GenuineIntel", "fpu sse2 avx2", True),
        ("AuthenticAMD", "fpu sse2 avx2 fma", True),
        ("AuthenticAMD", "fpu sse2 avx2 avx512f avx512bw", False),
        ("HygonGenuine", "fpu sse2 avx2", False),
    ],
)
def test_mkl_is_preferred_on_intel_and_on_amd_without_avx512(
    tmp_path: Path, vendor: str, flags: str, preferred: bool
) -> None:
    from gradlab.engines._numba_gemm import mkl_preferred

    cpu = f"processor\t: {{n}}\nvendor_id\t: {vendor}\ncpu family\t: 23\nflags\t\t: {flags}\n\n"
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(cpu.format(n=0) + cpu.format(n=1))
    assert mkl_preferred(str(cpuinfo)) is preferred


def test_an_unreadable_cpu_description_keeps_openblas(tmp_path: Path) -> None:
    from gradlab.engines._numba_gemm import mkl_preferred

    assert mkl_preferred(str(tmp_path / "missing")) is False


def test_an_unknown_blas_setting_warns_and_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gradlab.engines import _numba_gemm
    from gradlab.errors import GradlabWarning

    monkeypatch.setenv("GRADLAB_BLAS", "atlas")
    said = "GRADLAB_BLAS='atlas' is not understood: set it to mkl or openblas"
    with pytest.warns(GradlabWarning, match=said):
        assert _numba_gemm.choice() == "auto"
