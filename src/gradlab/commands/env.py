"""``gradlab env``: what this machine offers gradlab (versions, BLAS, threads, devices)."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
from typing import Any

from gradlab import __version__
from gradlab.commands._args import print_json

NAME = "env"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


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
    keys = ("internal_api", "version", "num_threads", "architecture", "filepath")
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


def collect() -> dict[str, Any]:
    """Everything ``gradlab env`` reports, as plain data."""
    import numpy as np

    return {
        "gradlab": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "blas": _blas(),
        "torch": _torch(),
        # TensorFlow takes seconds to import: report the installed version only.
        "tensorflow": _version("tensorflow", "tensorflow-cpu"),
        "scikit-learn": _version("scikit-learn"),
        "sympy": _version("sympy"),
        "matplotlib": _version("matplotlib"),
    }


def format_text(info: dict[str, Any]) -> str:
    lines = [
        f"gradlab      {info['gradlab']}",
        f"Python       {info['python']} on {info['platform']}",
        f"CPUs         {info['cpu_count']}",
        f"NumPy        {info['numpy']}",
    ]
    for b in info["blas"]:
        arch = f", {b['architecture']} kernels" if b.get("architecture") else ""
        lines.append(
            f"  BLAS       {b['internal_api']} {b['version']}: {b['num_threads']} threads{arch}"
        )
    t = info["torch"]
    if t is None:
        lines.append("PyTorch      not installed (pip install 'gradlab[torch]' -c constraints.txt)")
    else:
        lines.append(
            f"PyTorch      {t['version']}: {t['threads']} threads, MKL {_yn(t['mkl'])}, "
            f"oneDNN {_yn(t['onednn'])}"
        )
        if t["cuda_available"]:
            lines.append(f"  CUDA       yes (CUDA {t['cuda_version']}): {', '.join(t['devices'])}")
        else:
            lines.append("  CUDA       not available: the torch engine runs on the CPU")
    tf = info["tensorflow"]
    lines.append(
        f"TensorFlow   {tf}"
        if tf
        else "TensorFlow   not installed (pip install 'gradlab[tensorflow]' -c constraints.txt)"
    )
    for name in ("scikit-learn", "sympy", "matplotlib"):
        lines.append(f"{name:<12} {info[name] or 'not installed'}")
    return "\n".join(lines)


def _yn(flag: bool) -> str:
    return "yes" if flag else "no"


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print_json(info)
    else:
        print(format_text(info))
    return 0
