"""``gradlab env``: what this machine offers gradlab (versions, BLAS, threads, devices)."""

from __future__ import annotations

import argparse
from typing import Any

from gradlab.commands._args import print_json
from gradlab.errors import install_command
from gradlab.jobs.env import collect


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def format_text(info: dict[str, Any]) -> str:
    lines = [
        f"gradlab      {info['gradlab']}",
        f"Python       {info['python']} on {info['platform']}",
        f"CPUs         {info['cpu_count']}{_l2(info.get('l2_cache_bytes'))}",
        f"  model      {_cpu(info.get('cpu'))}",
        f"NumPy        {info['numpy']}",
    ]
    for b in info["blas"]:
        arch = f", {b['architecture']} kernels" if b.get("architecture") else ""
        lines.append(
            f"  BLAS       {b['internal_api']} {b['version']}: {b['num_threads']} threads{arch}"
        )
    t = info["torch"]
    if t is None:
        lines.append(f"PyTorch      not installed ({install_command('torch')})")
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
        else f"TensorFlow   not installed ({install_command('tensorflow')})"
    )
    for name in ("scikit-learn", "sympy", "matplotlib"):
        lines.append(f"{name:<12} {info[name] or 'not installed'}")
    nb = info["numba"]
    if nb is None:
        lines.append(
            "numba        not installed: Adam's and RMSProp's steps in NumPy passes "
            f"({install_command('fast')})"
        )
    elif nb["compiled_steps"] == "on":

        def when(work: float) -> str:
            if not work:
                return "every job (GRADLAB_NUMBA=1)"
            return f"jobs of {work:.3g} input values x epochs or more"

        blocks = nb["row_blocks"]
        split = f"in {blocks} row blocks, one per core" if blocks else "on one thread (one CPU)"
        lines.append(
            f"numba        {nb['version']}: compiled optimizer steps on; softmax "
            f"regression's kernel ({split}) for {when(nb['softmax_kernel_min_work'])}"
        )
        by = {"mkl": "MKL, PyTorch's", "openblas": "OpenBLAS, SciPy's"}.get(nb["mlp_products"])
        lines.append(
            f"             the MLP's blocked step ({split}) for {when(nb['mlp_kernel_min_work'])}"
            + (f"; its products by {by} (GRADLAB_BLAS)" if by else "")
            if blocks
            else "             the MLP's blocked step: not used on one CPU"
        )
    elif nb["compiled_steps"] == "off":
        lines.append(
            f"numba        {nb['version']}: compiled optimizer steps off (GRADLAB_NUMBA=0)"
        )
    else:
        lines.append(
            f"numba        {nb['version']}: cannot be used, optimizer steps in NumPy passes "
            f"({nb['compiled_steps'].removeprefix('broken: ')})"
        )
    return "\n".join(lines)


def _l2(nbytes: int | None) -> str:
    """The L2 cache, which decides how the NumPy engine buffers a batch's inputs."""
    if nbytes is None:
        return ", L2 cache size unknown"
    return f", L2 cache {nbytes // 1024} KiB per core"


def _cpu(cpu: dict[str, Any] | None) -> str:
    if not cpu or not cpu.get("model"):
        return "unknown"
    vector = cpu.get("vector") or []
    return str(cpu["model"]) + (f" ({', '.join(vector)})" if vector else "")


def _yn(flag: bool) -> str:
    return "yes" if flag else "no"


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print_json(info)
    else:
        print(format_text(info))
    return 0
