"""Choosing the engine: ``auto`` looks for a GPU without importing PyTorch when there is none."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gradlab.engines import gpu
from gradlab.models._network import resolve_engine


@pytest.mark.parametrize(
    ("value", "hidden"),
    [
        (None, False),
        ("", True),
        ("-1", True),
        ("-1,0", True),
        (" -2 ", True),
        ("0", False),
        ("1,0", False),
        ("GPU-8f1c2a3b-0000-0000-0000-000000000000", False),
    ],
)
def test_cuda_visible_devices_semantics(value: str | None, hidden: bool) -> None:
    assert gpu.cuda_devices_hidden(value) is hidden


def test_hidden_devices_mean_no_gpu_whatever_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(gpu.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    assert gpu.gpu_may_be_present() is False


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, False),
        ({"/proc/driver/nvidia/gpus/*": ["/proc/driver/nvidia/gpus/0000:01:00.0"]}, True),
        ({"/dev/nvidia[0-9]*": ["/dev/nvidia0"]}, True),
    ],
)
def test_on_linux_the_driver_files_decide(
    monkeypatch: pytest.MonkeyPatch, files: dict[str, list[str]], expected: bool
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpu.sys, "platform", "linux")
    monkeypatch.setattr(gpu.glob, "glob", lambda pattern: files.get(pattern, []))
    monkeypatch.setattr(gpu.os.path, "exists", lambda path: False)
    assert gpu.gpu_may_be_present() is expected


def test_amd_and_wsl_devices_count_as_maybe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpu.sys, "platform", "linux")
    monkeypatch.setattr(gpu.glob, "glob", lambda pattern: [])
    for device in ("/dev/kfd", "/dev/dxg"):
        monkeypatch.setattr(gpu.os.path, "exists", lambda path, d=device: path == d)
        assert gpu.gpu_may_be_present() is True


def test_macos_has_no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpu.sys, "platform", "darwin")
    assert gpu.gpu_may_be_present() is False


def test_explicit_choices_need_no_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> bool:
        raise AssertionError("probed")

    monkeypatch.setattr(gpu, "cuda_available", fail)
    assert resolve_engine("numpy", "auto") == "numpy"
    assert resolve_engine("torch", "auto") == "torch"
    assert resolve_engine("auto", "cuda") == "torch"
    assert resolve_engine("auto", "cpu") == "numpy"


def test_auto_without_a_gpu_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from gradlab.models._network import resolve_engine\n"
        "print(resolve_engine('auto', 'auto'), 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""},
    ).stdout
    assert out.split() == ["numpy", "False"]


def test_the_train_command_imports_only_what_its_job_uses(tmp_path: object) -> None:
    # no GPU (hidden), built-in synthetic data, no plots: neither PyTorch nor scikit-learn
    # (nor matplotlib) is needed, so none is imported; nor numba: a job this small keeps
    # softmax regression's NumPy passes (gradlab.optim.compiled.worth_compiling)
    code = (
        "import sys\n"
        "from gradlab.cli import main\n"
        f"code = main(['train', 'softmax', '--dataset', 'synthetic', '--epochs', '1', "
        f"'--quiet', '--no-plots', '--out', {str(tmp_path)!r}])\n"
        "print(code, sorted(m for m in ('torch', 'sklearn', 'matplotlib', 'scipy', 'pandas', "
        "'numba') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={
            **{k: v for k, v in __import__("os").environ.items() if k != "GRADLAB_NUMBA"},
            "CUDA_VISIBLE_DEVICES": "",
        },
    ).stdout
    assert out.strip().splitlines()[-1] == "0 []"
