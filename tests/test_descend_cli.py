"""``gradlab descend`` on expressions it must refuse: exit 2, one paragraph, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradlab.cli import main
from gradlab.errors import ExitStatus

TOWER = "**".join(["x"] * 140)

# each expression once failed deep inside SymPy or NumPy, or ran on its real part alone
BAD_EXPRESSIONS = [
    ("x*(10**999)**5", "the number is too large: about 4995 digits"),
    (TOWER, "is nested too deeply: 140 levels, at most 30"),
    ("sqrt(-1)*x**2", "complex numbers are not allowed, and this is I"),
    ("(-8)**(1/3)*x", "complex numbers are not allowed, and this is 2*(-1)**(1/3)"),
    ("log(-1)*x", "complex numbers are not allowed, and this is I*pi"),
    ("(-1)**x", "is not a real function of real x"),
    ("sqrt(-x**2 - 1)", "has no real value for any real x"),
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_paragraph(err: str, message: str) -> None:
    assert err.startswith("gradlab descend: error: ")
    assert message in err
    assert "Traceback" not in err
    assert "\n\n" not in err.strip()  # one paragraph: the message, and a hint if any
    assert len(err.strip().splitlines()) <= 2


@pytest.mark.parametrize(("expr", "message"), BAD_EXPRESSIONS)
def test_descend_refuses_with_exit_2_and_one_paragraph(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, expr: str, message: str
) -> None:
    code, out, err = run(capsys, "descend", expr, "--out", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert out == ""
    assert_one_paragraph(err, message)
    assert list(tmp_path.iterdir()) == []


def test_descend_start_outside_the_real_domain_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "descend", "log(x)", "--x0", "-1", "--out", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert_one_paragraph(err, "has no real value at --x0=[-1.0]")


def test_power_tower_is_refused_by_the_installed_command(tmp_path: Path) -> None:
    # the whole path, interpreter start to exit status, in a fresh process
    result = subprocess.run(
        [sys.executable, "-m", "gradlab", "descend", TOWER, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == ExitStatus.USAGE
    assert result.stdout == ""
    assert_one_paragraph(result.stderr, "is nested too deeply")


def test_descend_imports_no_other_command_and_not_numpy_testing() -> None:
    # the parser is built for the named command only, and lambdify gets NumPy's
    # namespace rather than running `from numpy import *`
    code = (
        "import sys\n"
        "from gradlab.cli import main\n"
        "assert main(['descend', 'x**2*sin(x)', '--no-plots', '--json']) == 0\n"
        "loaded = [m for m in sys.modules if m.startswith(('gradlab.commands.', 'gradlab.jobs',"
        " 'gradlab.data', 'gradlab.engines', 'gradlab.models', 'numpy.testing', 'numpy.f2py',"
        " 'matplotlib'))]\n"
        "print(sorted(loaded), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stderr.strip() == "['gradlab.commands._args', 'gradlab.commands.descend']"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["descend", "--help"], "--x0 X[,Y]"),
        (["linreg", "--help"], "--csv"),
        (["--help"], "gradient descent on a function of x (and y)"),
    ],
)
def test_help_still_describes_each_command(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert expected in out


def test_an_unknown_command_is_still_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "decsend", "x")
    assert code == ExitStatus.USAGE
    assert "invalid choice: 'decsend'" in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["x**2", "--lr", "0.1,0.01,0.1"], "argument --lr: rate 0.1 is given twice"),
        (
            ["x**2", "--lr", ",".join(f"{0.001 * (i + 1):g}" for i in range(13))],
            "argument --lr: at most 12 rates, got 13 (each one a run and a panel)",
        ),
        (
            ["rosenbrock", "--optimizer", "sgd,momentum,adam", "--steps", "1000000"],
            "--steps 1,000,000 for each of 3 runs keeps 3,000,000 points; at most 1,000,000 in "
            "all.\nTake at most 333,333 steps, or compare fewer runs.",
        ),
    ],
    ids=["repeated-rate", "too-many-rates", "points"],
)
def test_descend_bounds_what_a_comparison_keeps(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], said: str
) -> None:
    """A picture grew a panel per rate without end (5000 rates ran past 90 s), and three
    runs of a million steps held a gigabyte."""
    code = main(["descend", *argv, "--no-plots", "--out", str(tmp_path)])
    assert code == ExitStatus.USAGE
    assert f"error: {said}" in capsys.readouterr().err


def test_descend_starts_a_formula_of_x_and_y_at_4_in_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without --x0 a formula of two variables was told its one default value was wrong."""
    code = main(["descend", "x**2+y**2", "--no-plots", "--json", "--out", str(tmp_path)])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["x0"] == [4.0, 4.0]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["x**2", "--x0", "3", "--lr", "0.98"], "still settling after 200 steps: it overshoots"),
        (["x**2", "--x0", "3", "--lr", "0.02"], "still approaching after 200 steps: each step "),
    ],
    ids=["bouncing", "straight"],
)
def test_descend_says_overshoots_only_for_a_path_that_bounces(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], said: str
) -> None:
    """A path that falls straight on towards the minimum was told it overshoots."""
    assert main(["descend", *argv, "--no-plots", "--out", str(tmp_path)]) == 0
    assert f"verdict: {said}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("word", "guess"),
    [("rosenbrok", "Did you mean rosenbrock? "), ("Ill_conditioned", "Did you mean "
     "ill-conditioned? "), ("ill conditioned", "Did you mean ill-conditioned? "),
     ("himmelblau2", "Did you mean himmelblau? "), ("banana", "")],
)  # fmt: skip
def test_a_word_that_is_no_formula_is_answered_with_the_built_in_test_functions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, word: str, guess: str
) -> None:
    """A misspelt test function got the formula's list of names, which omits them."""
    code, _, err = run(capsys, "descend", word, "--no-plots", "--out", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert "error: " in err
    assert err.endswith(
        f"\n{guess}The built-in test functions are rosenbrock, beale, himmelblau, saddle, "
        "ill-conditioned.\n"
    )


def test_a_formula_that_fails_as_a_formula_gets_no_test_function_hint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "descend", "pi", "--no-plots", "--out", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert "does not depend on x or y" in err
    assert "test functions" not in err
