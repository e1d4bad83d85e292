# mypy: disable-error-code="no-untyped-call,call-arg"
"""The float32 matrix product of the blocked kernels (numba), by a BLAS chosen when the
kernels load: Intel's MKL where PyTorch ships it and the CPU is one where MKL measured
faster at the kernels' shapes (:func:`mkl_preferred`), SciPy's OpenBLAS otherwise (what
numba's own ``np.dot`` calls).

Why: at the MLP's shapes (784-200-200-10, 128-row blocks, one thread each) MKL ran a
block's eight products in 0.815x OpenBLAS's time (a scratch script), and the warm
10-epoch fit in 0.748x (median of 4 rounds of fresh processes taking turns,
``python -m bench.experiments.blas_choice --rounds 4 --cold``, Intel Xeon with AVX-512,
2026-12-01; docs/performance.md). On an AMD EPYC with AVX-512 (Zen 4 class) the same
experiment gave 0.962x and 1.140x, no gain; on an AMD EPYC with AVX2 only (Zen 1, family
23, 2026-12-02) 0.641x, where OpenBLAS's Haswell kernels ran these shapes at a third of
their rate on large squares. So MKL is taken on Intel's CPUs and on AMD's without
AVX-512. PyTorch's CPU wheel links MKL into ``libtorch_cpu.so`` and exports its Fortran
``sgemm_``; loading that library (without importing torch) took 0.16-0.19 s, and it is
loaded only where MKL is taken.

How, so that numba can still cache the kernels: the compiled code calls the product by a
symbol name of its own (:data:`SGEMM`), not by an address. The address is given to
LLVM's linker (:func:`llvmlite.binding.add_symbol`) when this module is imported, before
any kernel is compiled or loaded from the cache, so one cached kernel serves either BLAS.
Each block first asks the BLAS for one thread in its own thread (:data:`THREADS`): the
blocks are the parallelism.

``GRADLAB_BLAS=mkl`` or ``openblas`` chooses; unset (or ``auto``), the rule above. Other
float types keep numba's ``np.dot``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import llvmlite.binding as llvm  # type: ignore[import-untyped]
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from gradlab.engines.cpu_cache import read_cpuinfo
from gradlab.errors import GradlabWarning

#: The symbols the kernels call: Fortran's ``sgemm`` and ``set_num_threads_local(int)``.
SGEMM = "gradlab_sgemm"
THREADS = "gradlab_blas_threads_local"

#: Environment variable that chooses the BLAS: ``mkl``, ``openblas`` or ``auto``.
ENV = "GRADLAB_BLAS"


def _torch_library() -> ctypes.CDLL | None:
    """PyTorch's ``libtorch_cpu.so`` when it exports MKL's ``sgemm_`` (torch not imported)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "lib" / "libtorch_cpu.so"
    try:
        lib = ctypes.CDLL(str(path))
        lib.sgemm_  # noqa: B018  (a lookup: AttributeError where it is not exported)
        lib.MKL_Set_Num_Threads_Local  # noqa: B018
    except (OSError, AttributeError):
        return None
    return lib


def mkl_preferred(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether MKL's products were measured faster than OpenBLAS's at the blocked
    kernels' shapes on CPUs like this one: Intel's, and AMD's without AVX-512 (see the
    module's docstring). Unknown vendors and unreadable CPU descriptions keep OpenBLAS."""
    info = read_cpuinfo(cpuinfo)
    if info is None:
        return False
    if info.vendors == {"GenuineIntel"}:
        return True
    return info.vendors == {"AuthenticAMD"} and "avx512f" not in info.flags


def _address(function: Any) -> int:
    return int(ctypes.cast(function, ctypes.c_void_p).value or 0)


def _scipy_openblas() -> tuple[int, int]:
    """SciPy's ``sgemm`` (as numba's ``np.dot`` calls it) and OpenBLAS's
    ``openblas_set_num_threads_local`` from SciPy's wheel; where that library is not found
    (a SciPy built otherwise), C's ``abs``, an ``int -> int`` that changes nothing: the
    thread governor keeps BLAS on one thread while the blocks run in any case."""
    import scipy.linalg.cython_blas as blas

    capsule = blas.__pyx_capi__["sgemm"]  # type: ignore[attr-defined]
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    sgemm = int(get(capsule, name(capsule)))
    libs = Path(blas.__file__).parents[2] / "scipy.libs"
    for candidate in sorted(libs.glob("libscipy_openblas*.so*")):
        try:
            return sgemm, _address(ctypes.CDLL(str(candidate)).openblas_set_num_threads_local)
        except (OSError, AttributeError):
            continue
    return sgemm, _address(ctypes.CDLL(None).abs)


def choice() -> str:
    """What ``GRADLAB_BLAS`` asks for: ``"mkl"``, ``"openblas"`` or ``"auto"`` (any other
    value warns and counts as unset)."""
    raw = os.environ.get(ENV, "").strip().lower()
    if raw in ("mkl", "openblas"):
        return raw
    if raw not in ("", "auto"):
        warnings.warn(
            f"{ENV}={os.environ[ENV]!r} is not understood: set it to mkl or openblas, or "
            "leave it unset (MKL where PyTorch ships it and it is the faster on this CPU); "
            "it counts "
            "as unset.",
            GradlabWarning,
            stacklevel=2,
        )
    return "auto"


def _register() -> str:
    """Give the kernels' symbols the chosen BLAS's functions; returns its name."""
    wanted = choice()
    take_mkl = wanted == "mkl" or (wanted == "auto" and mkl_preferred())
    torch_lib = _torch_library() if take_mkl else None
    if torch_lib is not None:
        llvm.add_symbol(SGEMM, _address(torch_lib.sgemm_))
        llvm.add_symbol(THREADS, _address(torch_lib.MKL_Set_Num_Threads_Local))
        return "mkl"
    sgemm, threads = _scipy_openblas()
    llvm.add_symbol(SGEMM, sgemm)
    llvm.add_symbol(THREADS, threads)
    return "openblas"


#: The BLAS behind the kernels' float32 products in this process: "mkl" or "openblas".
BLAS = _register()


@intrinsic
def _threads_local(typingctx, n):  # type: ignore[no-untyped-def]
    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        fnty = ir.FunctionType(ir.IntType(32), [ir.IntType(32)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, THREADS)
        return builder.call(fn, [context.cast(builder, args[0], signature.args[0], types.int32)])

    return types.int32(n), codegen


@intrinsic
def _sgemm(typingctx, ta, tb, m, n, k, a, lda, b, ldb, c, ldc):  # type: ignore[no-untyped-def]
    """Fortran's ``sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)``, column-major."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        sig = signature.args

        def cell(i: int, as_type: types.Type) -> ir.Value:  # a pointer to the argument
            value = context.cast(builder, args[i], sig[i], as_type)
            return cgutils.alloca_once_value(builder, value)

        def data(i: int) -> ir.Value:
            return context.make_array(sig[i])(context, builder, args[i]).data

        f32 = ir.FloatType()
        one = cgutils.alloca_once_value(builder, ir.Constant(f32, 1.0))
        zero = cgutils.alloca_once_value(builder, ir.Constant(f32, 0.0))
        call = [cell(0, types.uint8), cell(1, types.uint8)]
        call += [cell(i, types.int32) for i in (2, 3, 4)]
        call += [one, data(5), cell(6, types.int32), data(7), cell(8, types.int32), zero]
        call += [data(9), cell(10, types.int32)]
        fnty = ir.FunctionType(ir.VoidType(), [v.type for v in call])
        builder.call(cgutils.get_or_insert_function(builder.module, fnty, SGEMM), call)
        return context.get_dummy_value()

    return types.void(ta, tb, m, n, k, a, lda, b, ldb, c, ldc), codegen


def one_blas_thread() -> None:
    """Ask the BLAS for one thread in the calling thread (inside a kernel)."""


@overload(one_blas_thread)
def _one_blas_thread():  # type: ignore[no-untyped-def]
    def impl():  # type: ignore[no-untyped-def]
        _threads_local(1)

    return impl


def gemm(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> None:
    """``C = A @ B`` inside a kernel (``C`` C-contiguous), as ``np.dot(A, B, C)``."""


_N, _T = ord("N"), ord("T")


@overload(gemm)
def _gemm(A, B, C):  # type: ignore[no-untyped-def]
    if not (A.dtype == B.dtype == C.dtype == types.float32):
        return lambda A, B, C: np.dot(A, B, C)

    def impl(A, B, C):  # type: ignore[no-untyped-def]
        m, k = A.shape
        n = B.shape[1]
        strided = A.strides[0] != 4 and A.strides[1] != 4
        if strided or (B.strides[0] != 4 and B.strides[1] != 4) or (C.strides[1] != 4 and n > 1):
            np.dot(A, B, C)  # neither row- nor column-major: not the kernels' arrays
            return
        if m == 0 or n == 0:
            return
        if k == 0:
            C[:] = 0
            return
        # column-major, as Fortran sees it: C.T (n x m) = B.T (n x k) @ A.T (k x m)
        if B.strides[1] == 4 or k == 1:
            tb, ldb = _N, max(B.strides[0] // 4, n)
        else:
            tb, ldb = _T, max(B.strides[1] // 4, k)
        if A.strides[1] == 4 or m == 1:
            ta, lda = _N, max(A.strides[0] // 4, k)
        else:
            ta, lda = _T, max(A.strides[1] // 4, m)
        _sgemm(tb, ta, n, m, k, B, ldb, A, lda, C, max(C.strides[0] // 4, n))

    return impl
