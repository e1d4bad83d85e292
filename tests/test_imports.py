"""``import gradlab`` (and the CLI's help) must not import PyTorch or TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "tensorflow", "sympy", "matplotlib", "numba")


@pytest.mark.parametrize(
    "code",
    [
        "import gradlab",
        "import gradlab.models, gradlab.optim, gradlab.data.points",
        "from gradlab.cli import build_parser; build_parser()",
    ],
)
def test_light_imports_do_not_load_engines(code: str) -> None:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], []])
def test_without_a_command_no_command_module_and_not_numpy_is_imported(argv: list[str]) -> None:
    """`gradlab --help` took 0.7 s: it imported every command's module to add options it
    does not show."""
    probe = (
        "import sys\nfrom gradlab.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('loaded:', ','.join(sorted(m for m in sys.modules\n"
        "    if m == 'numpy' or m.startswith('gradlab.commands.'))), file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.stderr.splitlines()[-1] == "loaded: ", proc.stderr


def test_a_one_process_train_does_not_import_the_data_parallel_launcher(tmp_path: Path) -> None:
    """The train command's parser imported gradlab.distributed.launch (socket, logging,
    threading: about 14 ms of a cold start) to print one default in --help."""
    probe = (
        "import sys\nfrom gradlab.cli import main\n"
        f"code = main(['train', 'softmax', '--epochs', '1', '--no-plots', '--quiet', '--out', "
        f"{str(tmp_path)!r}])\n"
        "print(code, 'gradlab.distributed.launch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[-1] == "0 False"  # after the run's own summary
