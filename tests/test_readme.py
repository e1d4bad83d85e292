"""The README's Python examples run as written, and do what their comments say."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.slow
def test_the_readme_python_examples_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run every block in one namespace, as a reader pasting them into one session would;
    a block that imports torch is skipped when torch is not installed."""
    import importlib.util

    monkeypatch.chdir(tmp_path)  # the examples write files (mlp.safetensors)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "readme"}
    printed = io.StringIO()
    for block in BLOCKS:
        if "import torch" in block and importlib.util.find_spec("torch") is None:
            continue
        with contextlib.redirect_stdout(printed):
            exec(compile(block, str(README), "exec"), namespace)
    lines = printed.getvalue().splitlines()
    assert lines[0] == "converged [5.0869851]"
    # the auto rate finds the generating line (w 1.5, b 4, noise 1) in 1000 epochs
    slope, intercept, r2 = (float(v.strip("[]")) for v in lines[1].split())
    assert 1.4 < slope < 1.6
    assert 3.5 < intercept < 4.5
    assert 0.95 < r2 < 1
    assert float(lines[2]) > 0.9  # the MLP with Adam, reloaded from its checkpoint
    assert os.path.exists(tmp_path / "mlp.safetensors")
    scores = [float(v) for v in lines[3].strip("[]").split()]
    assert len(scores) == 3
    assert all(0.8 < s <= 1 for s in scores)
    assert lines[4].startswith("{'hidden': ")
    if len(lines) > 5:  # the DataLoader example, when torch is installed
        assert float(lines[5]) > 0.9


# ------------------------------------------------------------------ the commands' output

#: The README's terminal sessions: "$ gradlab ..." then what it prints ("..." for lines
#: left out).
SESSIONS = {
    m[0]: m[1].splitlines()
    for m in re.findall(r"```text\n\$ gradlab (.*?)\n(.*?)```", README.read_text(), flags=re.S)
}
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"
#: Timings differ from run to run: any number stands there.
_TIME = rf"(?:{NUMBER} min )?{NUMBER} m?s"
TIMING = re.compile(rf"(?:\({_TIME}(?: training)?(?:, ~{_TIME} left)?\)|in {NUMBER} ms)")

#: How near each session's numbers must come: float64 descent and least squares agree to
#: rounding; the MLP trains in float32, whose sums another CPU or thread count orders
#: differently, and 450 test images make an accuracy step of 0.0022.
TOLERANCE = {"descend": (1e-6, 0.0), "linreg": (1e-9, 0.0), "train": (0.0, 0.005)}


def _shape(line: str) -> tuple[re.Pattern[str], list[float]]:
    """A pattern matching ``line`` with any numbers in its number places, and its numbers."""
    parts, numbers, at = [], [], 0
    for m in re.finditer(rf"{TIMING.pattern}|{NUMBER}", line):
        parts.append(re.escape(line[at : m.start()]))
        if TIMING.fullmatch(m[0]):
            parts.append(TIMING.pattern)
        else:
            parts.append(f"({NUMBER})")
            numbers.append(float(m[0]))
        at = m.end()
    parts.append(re.escape(line[at:]))
    return re.compile("".join(parts)), numbers


def test_the_readme_shows_the_command_sessions_it_talks_about() -> None:
    assert {c.split()[0] for c in SESSIONS} >= {"descend", "linreg", "train"}


@pytest.mark.parametrize(
    "command", [c for c in SESSIONS if c.split()[0] in TOLERANCE], ids=lambda c: c.split()[0]
)
def test_the_readme_command_sessions_print_what_the_commands_print(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """Every line shown is printed, in order, its numbers within the arithmetic's reach."""
    import shlex
    import shutil

    from gradlab.cli import main

    argv = shlex.split(command)
    if "data.csv" in argv:
        shutil.copy(request.getfixturevalue("data_csv"), tmp_path / "data.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert main(argv) == 0
    # a terminal shows both streams; in these sessions the progress (stderr) all comes
    # before the results (stdout)
    out, err = capsys.readouterr()
    printed = [line.rstrip() for line in (err + out).splitlines()]
    rel, absolute = TOLERANCE[argv[0]]
    at = 0
    for shown in SESSIONS[command]:
        if not shown.strip() or shown == "...":
            continue
        pattern, expected = _shape(shown.rstrip())
        found = next((i for i in range(at, len(printed)) if pattern.fullmatch(printed[i])), None)
        assert found is not None, f"README line not printed (in order): {shown!r}\n{printed}"
        got = [float(v) for v in pattern.fullmatch(printed[found]).groups()]  # type: ignore[union-attr]
        assert got == pytest.approx(expected, rel=rel, abs=absolute), shown
        at = found + 1
