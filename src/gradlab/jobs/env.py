"""What this machine offers gradlab: versions, BLAS, threads and devices, as plain data.

``gradlab env`` prints it; the benchmark records it beside its timings.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

from gradlab import __version__
from gradlab.engines.cpu_cache import CpuInfo, l2_cache_bytes, parse_cpuinfo, read_cpuinfo


def _version(*dists: str) -> str | None:
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _blas() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - scikit-learn brings threadpoolctl
        return []
    keys = ("user_api", "internal_api", "version", "num_threads", "architecture", "filepath")
    return [{k: info.get(k) for k in keys} for info in threadpool_info()]


def _torch() -> dict[str, Any] | None:
    if _version("torch") is None:
        return None
    import torch

    cuda = torch.cuda.is_available()
    return {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkl": torch.backends.mkl.is_available(),  # type: ignore[no-untyped-call]
        "onednn": torch.backends.mkldnn.is_available(),  # type: ignore[no-untyped-call]
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda
        else [],
    }


#: Vector extensions by which a CPU's float32 arithmetic differs, widest first, as
#: /proc/cpuinfo's flags name them.
VECTOR_FLAGS = (("amx_bf16", "AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"))


def cpu_description(cpuinfo: str) -> dict[str, Any]:
    """The CPU's model name and vector extensions from the text of ``/proc/cpuinfo``.

    The machine a benchmark ran on matters to its numbers: the same job on an AVX2 part and
    on an AVX-512 part runs different BLAS kernels.

    Returns
    -------
    dict
        ``{"model": name or None, "vector": ["AVX-512", "AVX2", ...]}``, the extensions of
        :data:`VECTOR_FLAGS` the first processor lists.
    """
    return _described(parse_cpuinfo(cpuinfo))


def _described(info: CpuInfo) -> dict[str, Any]:
    vector = [name for flag, name in VECTOR_FLAGS if flag in info.flags]
    return {"model": info.model, "vector": vector}


def _cpu() -> dict[str, Any]:
    info = read_cpuinfo()
    if info is None:  # not Linux
        return {"model": platform.processor() or None, "vector": []}
    return _described(info)


def collect() -> dict[str, Any]:
    """Everything ``gradlab env`` reports, as plain data."""
    import numpy as np

    return {
        "gradlab": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu(),
        "cpu_count": os.cpu_count(),
        "l2_cache_bytes": l2_cache_bytes(),
        "numpy": np.__version__,
        "blas": _blas(),
        "torch": _torch(),
        # TensorFlow takes seconds to import: report the installed version only.
        "tensorflow": _version("tensorflow", "tensorflow-cpu"),
        "scikit-learn": _version("scikit-learn"),
        "sympy": _version("sympy"),
        "matplotlib": _version("matplotlib"),
        "numba": _numba(),
    }


def _numba() -> dict[str, Any] | None:
    """numba's version and whether compiled steps are used: ``"on"``, ``"off"``
    (``GRADLAB_NUMBA=0``) or ``"broken: why"`` (:func:`gradlab.optim.compiled.status`,
    which imports numba to find out), and from how much work (input values x epochs)
    softmax regression and the MLP use their kernels (0 with ``GRADLAB_NUMBA=1``), and in
    how many row blocks they run on this machine (0: none, one CPU: the MLP keeps NumPy's
    passes, softmax regression's kernel runs on one thread), and the BLAS of the MLP
    kernel's float32 products (``"mkl"`` or ``"openblas"``, :mod:`gradlab.engines._numba_gemm`)."""
    version = _version("numba")
    if version is None:
        return None
    from gradlab.engines.numpy_mlp import BLOCKED_KERNELS, FUSED_KERNELS, block_count
    from gradlab.optim import compiled

    every = compiled.forced()
    steps = compiled.status((*FUSED_KERNELS, *BLOCKED_KERNELS[True], *BLOCKED_KERNELS[False]))
    gemm = sys.modules.get("gradlab.engines._numba_gemm")  # loaded with the MLP's kernel
    return {
        "version": version,
        "compiled_steps": steps,
        "mlp_products": getattr(gemm, "BLAS", None) if steps == "on" else None,
        "softmax_kernel_min_work": 0 if every else compiled.KERNEL_MIN_WORK,
        "mlp_kernel_min_work": 0 if every else compiled.MLP_KERNEL_MIN_WORK,
        "row_blocks": block_count(),
    }
