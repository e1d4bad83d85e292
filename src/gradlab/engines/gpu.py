"""Could PyTorch see a GPU here? Answered without importing PyTorch when the answer is no.

Importing PyTorch takes about two seconds, so ``engine="auto"`` must not import it just
to learn that a laptop has no GPU. :func:`gpu_may_be_present` looks first at what the
operating system shows (the NVIDIA driver's files, the AMD compute device, WSL's GPU
device) and at ``CUDA_VISIBLE_DEVICES``; only when a GPU may be there does the caller
import PyTorch and ask it.
"""

from __future__ import annotations

import glob
import os
import sys


def cuda_devices_hidden(value: str | None) -> bool:
    """Whether ``CUDA_VISIBLE_DEVICES=value`` hides every device.

    CUDA reads the list up to its first invalid entry, so an empty value, or one whose
    first entry is a negative number (``-1``, ``-1,0``), leaves no device visible.
    Unset (None) hides nothing.
    """
    if value is None:
        return False
    first = value.split(",")[0].strip()
    if not first:
        return True
    try:
        return int(first) < 0
    except ValueError:
        return False  # a GPU-... or MIG-... UUID


def gpu_may_be_present() -> bool:
    """False when no GPU can be visible to PyTorch; True when one may be (ask PyTorch then).

    On Linux a CUDA GPU needs the NVIDIA driver (``/proc/driver/nvidia/gpus/*`` or a
    ``/dev/nvidia<N>`` device), a ROCm GPU ``/dev/kfd``, and a GPU under WSL
    ``/dev/dxg``; macOS has no CUDA. Elsewhere the answer is "may be".
    """
    if cuda_devices_hidden(os.environ.get("CUDA_VISIBLE_DEVICES")):
        return False
    if sys.platform == "darwin":
        return False
    if sys.platform.startswith("linux"):
        return bool(
            glob.glob("/proc/driver/nvidia/gpus/*")
            or glob.glob("/dev/nvidia[0-9]*")
            or os.path.exists("/dev/kfd")
            or os.path.exists("/dev/dxg")
        )
    return True


def cuda_available() -> bool:
    """Whether PyTorch is installed and sees a CUDA device, importing it only if one may be."""
    if not gpu_may_be_present():
        return False
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())
