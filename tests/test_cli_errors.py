"""The CLI's one place for errors: --json error objects, SIGTERM, the run lock, writes that fail."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gradlab.cli import main
from gradlab.errors import ExitStatus, ResourceError, UsageError
from gradlab.io import atomic_path, run_lock, write_text
from gradlab.optim import DivergenceGuard, plain_number


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def only_json(out: str) -> dict:
    """stdout must be exactly one JSON object."""
    return json.loads(out)


# ------------------------------------------------------------------ --json on errors


def test_json_usage_error_from_the_argument_parser_is_one_object(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "linreg", "--lr", "-1", "--json")
    assert code == ExitStatus.USAGE
    error = only_json(out)["error"]
    assert error["kind"] == "usage"
    assert error["exit_status"] == 2
    assert "--lr: must be a finite number > 0, got '-1'" in error["message"]
    assert "--lr: must be a finite number > 0" in err  # people still read stderr


@pytest.mark.parametrize(
    ("argv", "usage", "error"),
    [
        (["train", "softmax", "--foo", "1"], "usage: gradlab train ", "gradlab train: error: "),
        (["env", "--bar"], "usage: gradlab env [-h] [--json]", "gradlab env: error: "),
        (["--foo"], "usage: gradlab [-h]", "gradlab: error: "),
    ],
    ids=["train", "env", "no command"],
)
def test_an_unknown_option_is_refused_by_the_commands_own_parser(
    capsys: pytest.CaptureFixture[str], argv: list[str], usage: str, error: str
) -> None:
    """An unknown option of a command printed the top level's usage and 'gradlab: error',
    naming neither the command nor its options."""
    code, _, err = run(capsys, *argv)
    assert code == ExitStatus.USAGE
    assert err.startswith(usage)
    unknown = " ".join(a for a in argv if a.startswith("-") or a == "1")
    assert f"{error}unrecognized arguments: {unknown}\n" in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--quiet", "train", "softmax", "--bogus"], "--quiet"),
        (["--json", "env", "--bar"], "--json"),
    ],
)
def test_an_option_before_the_command_is_said_to_go_after_it(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    """'--quiet train softmax --bogus' blamed '--quiet --bogus' on train, whose usage just
    above lists --quiet."""
    code, _, err = run(capsys, *argv)
    assert code == ExitStatus.USAGE
    assert err.startswith("usage: gradlab [-h]")
    assert f"gradlab: error: unrecognized arguments: {said}\n" in err
    assert f"A command's options go after it: gradlab {argv[1]} {said} ...\n" in err


def test_json_data_error_names_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    code, out, _ = run(capsys, "linreg", "--csv", str(missing), "--json", "--no-plots")
    assert code == ExitStatus.USAGE
    error = only_json(out)["error"]
    assert error["kind"] == "data"
    assert str(missing) in error["message"]


def test_json_divergence_reports_iteration_and_last_parameters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "linreg", "--lr", "1", "--json", "--no-plots")
    assert code == ExitStatus.DIVERGED
    error = only_json(out)["error"]
    assert error["kind"] == "diverged"
    assert error["exit_status"] == 3
    assert error["iteration"] >= 1
    assert set(error["last_params"]) >= {"coef", "intercept"}
    assert "Try a learning rate below" in error["hint"]
    # the loss after each full-batch step before the bad one: the curve of the explosion
    assert len(error["losses"]) == error["iteration"]
    assert error["losses"] == sorted(error["losses"])


def test_json_divergence_of_training_is_one_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys, "train", "softmax", "--lr", "1e30", "--epochs", "2", "--out", str(tmp_path),
        "--json", "--no-plots",
    )  # fmt: skip
    assert code == ExitStatus.DIVERGED
    assert only_json(out)["error"]["kind"] == "diverged"


def test_json_divergence_of_descent_carries_the_error_beside_the_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As every command's --json: an "error" object, and the message on stderr too (the
    run's points stay in the same object, for a plot of where it went)."""
    code, out, err = run(capsys, "descend", "x**2", "--lr", "3", "--steps", "50", "--json",
                         "--no-plots")  # fmt: skip
    assert code == ExitStatus.DIVERGED
    result = only_json(out)
    assert result["error"] == {
        "kind": "diverged",
        "message": "diverged at step 9; last finite point 1.5625e+06.",
        "hint": "Try a smaller --lr.",
        "exit_status": 3,
    }
    assert result["runs"][0]["verdict"] == "diverged"
    assert err == (
        "gradlab descend: error: diverged at step 9; last finite point 1.5625e+06. "
        "Try a smaller --lr.\n"
    )


# ------------------------------------------------------------------ divergence hints


@pytest.mark.parametrize(
    ("x", "text"), [(1e30, "1e30"), (1e-5, "1e-5"), (0.001, "0.001"), (2.5e-7, "2.5e-7")]
)
def test_plain_number_writes_exponents_as_people_do(x: float, text: str) -> None:
    assert plain_number(x) == text


def test_divergence_hint_for_an_absurd_rate_says_where_to_start() -> None:
    hint = DivergenceGuard(1e30).suggestion()
    assert hint == (
        "A learning rate of 1e30 is far above what gradient descent usually takes; "
        "start from 0.1 and divide by 10 until the loss falls."
    )
    assert DivergenceGuard(0.5).suggestion() == "Try a smaller learning rate, e.g. 0.05."


@pytest.mark.parametrize(
    "bound",
    [0.5, 0.1, math.inf, math.nan, 0.0, -1.0],
    ids=["above", "equal", "inf", "nan", "zero", "negative"],
)
def test_divergence_hint_ignores_a_stable_rate_that_is_not_below_the_rate_used(
    bound: float,
) -> None:
    # only a finite bound strictly between 0 and lr says something about this run
    guard = DivergenceGuard(0.1, stable_lr=lambda: bound)
    assert guard.suggestion() == "Try a smaller learning rate, e.g. 0.01."


def test_divergence_hint_quotes_a_stable_rate_below_the_rate_used() -> None:
    assert DivergenceGuard(0.1, stable_lr=lambda: 0.05).suggestion() == (
        "Try a learning rate below 0.05: full-batch descent on this data is stable only for "
        "rates under about 0.05."
    )


# ------------------------------------------------------------------ SIGTERM


def test_sigterm_stops_training_like_ctrl_c_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    from gradlab import checkpoint

    out = tmp_path / "run"
    ckpt = out / "model.safetensors"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradlab", "train", "mlp", "--epochs", "100000", "--out",
         str(out), "--quiet", "--no-plots", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not ckpt.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out_text, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitStatus.TERMINATED
    assert "gradlab train: stopped by SIGTERM; epoch " in err  # once, with what is saved
    assert err.count("stopped by SIGTERM") == 1
    assert "interrupted" not in err
    assert "Traceback" not in err
    _, meta = checkpoint.load(ckpt)  # intact and loadable
    saved = len(meta["history"]["epoch"])
    assert saved >= 1
    assert not list(out.glob(".*.part"))
    error = only_json(out_text)["error"]  # --json says what is saved, as stderr does
    assert (error["kind"], error["exit_status"]) == ("terminated", 143)
    assert (error["saved_epochs"], error["checkpoint"]) == (saved, str(ckpt))


def gradlab_run_with_main(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    """``gradlab.cli.run()`` in a fresh interpreter, with ``main`` replaced by ``body``."""
    code = "import gradlab.cli as cli\ndef main():\n" + body + "cli.main = main\ncli.run()\n"
    return run_as_module(tmp_path, code)


def run_as_module(
    tmp_path: Path, code: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m``, as the ``gradlab`` command runs: the exit status then comes from
    ``Py_RunMain`` (a script's SystemExit would exit from inside ``PyErr_Print``)."""
    (tmp_path / "script_under_test.py").write_text(code)
    return subprocess.run(
        [sys.executable, "-m", "script_under_test"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def as_a_worker_of_two() -> dict[str, str]:
    """The environment of a job's worker, where :class:`gradlab.process.StopDeadline` is
    armed."""
    return {**os.environ, "RANK": "0", "WORLD_SIZE": "2"}


def test_a_ctrl_c_caught_after_it_left_an_exec_still_exits_130(tmp_path: Path) -> None:
    """CPython flags a KeyboardInterrupt that leaves an exec of a string (an import that
    makes a dataclass can be one) and, unless the flag is cleared, dies by SIGINT at exit
    (status -2) although the command handled the interrupt and chose 130."""
    body = (
        "    try:\n        exec('raise KeyboardInterrupt')\n"
        "    except KeyboardInterrupt:\n        return 130\n"
    )
    proc = gradlab_run_with_main(tmp_path, body)
    assert proc.returncode == ExitStatus.INTERRUPTED, proc.stderr


def test_where_the_flag_cannot_be_cleared_a_handled_ctrl_c_still_exits_130(
    tmp_path: Path,
) -> None:
    """As on CPython 3.12 and later, which keep the flag out of reach: the process then
    exits without the interpreter's teardown, which never reads the flag."""
    body = (
        "    import gradlab.process\n"
        "    gradlab.process.forget_caught_interrupt = lambda: False\n"
        "    try:\n        exec('raise KeyboardInterrupt')\n"
        "    except KeyboardInterrupt:\n        return 130\n"
    )
    proc = gradlab_run_with_main(tmp_path, body)
    assert proc.returncode == ExitStatus.INTERRUPTED, proc.stderr


def test_a_ctrl_c_while_the_command_line_loads_prints_one_line(tmp_path: Path) -> None:
    """The ``gradlab`` script and ``python -m gradlab`` start in gradlab.__main__.main,
    which catches a Ctrl-C that comes while gradlab.cli and NumPy are imported."""
    code = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'gradlab.cli':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from gradlab.__main__ import main\n"
        "main()\n"
    )
    proc = run_as_module(tmp_path, code)
    assert proc.returncode == ExitStatus.INTERRUPTED
    assert proc.stderr == "gradlab: interrupted\n"


@pytest.mark.parametrize("module", ["gradlab.errors", "gradlab.process", "enum"])
def test_a_ctrl_c_in_the_first_imports_prints_one_line(tmp_path: Path, module: str) -> None:
    """gradlab.__main__ imported gradlab.process (and with it errors, enum, typing, re) at
    its top, before main's handler: a Ctrl-C in those first 30 ms got a traceback."""
    code = (
        "import sys\n"
        f"sys.modules.pop({module!r}, None)\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r}:\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from gradlab.__main__ import main\n"
        "main()\n"
    )
    proc = run_as_module(tmp_path, code)
    assert proc.returncode == ExitStatus.INTERRUPTED, proc.stderr
    assert proc.stderr == "gradlab: interrupted\n"


#: A finder that sends this process a Ctrl-C while gradlab.cli is found, and turns the
#: KeyboardInterrupt into an ImportError, as NumPy's C extensions did ("Importing the
#: numpy C-extensions failed"); a Ctrl-C that waits is not raised there at all.
SWALLOWING_IMPORT = (
    "import signal, sys\n"
    "class SwallowingFinder:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name != 'gradlab.cli':\n"
    "            return None\n"
    "        broken = False\n"
    "        try:\n"
    "            signal.raise_signal(signal.SIGINT)\n"
    "            sum(range(1000))\n"
    "        except KeyboardInterrupt:\n"
    "            broken = True\n"
    "        if broken:\n"
    "            raise ImportError('PyCapsule_Import could not import module')\n"
    "        return None\n"
    "sys.meta_path.insert(0, SwallowingFinder())\n"
)


def test_a_ctrl_c_while_the_imports_run_waits_for_them_to_end(tmp_path: Path) -> None:
    """Before, the Ctrl-C became the ImportError, which ended with a traceback (status 1)."""
    code = SWALLOWING_IMPORT + "from gradlab.__main__ import main\nmain()\n"
    proc = run_as_module(tmp_path, code)
    assert proc.returncode == ExitStatus.INTERRUPTED, proc.stderr
    assert proc.stderr == "gradlab: interrupted\n"


def test_a_second_ctrl_c_stops_an_import_that_hangs(tmp_path: Path) -> None:
    code = (
        "import signal, sys, time\n"
        "class HangingFinder:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'gradlab.cli':\n"
        "            signal.raise_signal(signal.SIGINT)\n"
        "            signal.raise_signal(signal.SIGINT)\n"
        "            time.sleep(20)\n"
        "        return None\n"
        "sys.meta_path.insert(0, HangingFinder())\n"
        "from gradlab.__main__ import main\nmain()\n"
    )
    start = time.perf_counter()
    proc = run_as_module(tmp_path, code)
    assert time.perf_counter() - start < 15, "the second Ctrl-C waited for the import"
    assert proc.returncode == ExitStatus.INTERRUPTED, proc.stderr
    assert proc.stderr == "gradlab: interrupted\n"


def test_a_ctrl_c_stays_ignored_where_it_was_ignored(tmp_path: Path) -> None:
    """A job started in the background by a shell ignores SIGINT: the imports' hold must
    not turn that into an interrupt."""
    code = (
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        + SWALLOWING_IMPORT
        + "import sys\nsys.argv[1:] = ['--version']\n"
        "from gradlab.__main__ import main\nmain()\n"
    )
    proc = run_as_module(tmp_path, code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("gradlab ")


#: cli.main replaced by work during which a weak reference's callback raises ``{stop}``
#: (as a signal that lands in such a callback does), then run from gradlab.__main__.
STOP_IN_A_CALLBACK = """import gradlab.cli as cli
from gradlab.errors import HungUp, Terminated
def main(argv=None):
    import time, weakref
    class Thing:
        pass
    thing = Thing()
    def callback(ref):
        raise {stop}
    ref = weakref.ref(thing, callback)
    del thing
    time.sleep(0.5)
    print("the work went on")
    return 0
cli.main = main
from gradlab.__main__ import main as entry
entry()
"""


@pytest.mark.parametrize(
    ("stop", "status", "said"),
    [
        ("KeyboardInterrupt", ExitStatus.INTERRUPTED, "interrupted"),
        ("Terminated", ExitStatus.TERMINATED, "stopped by SIGTERM"),
        ("HungUp", ExitStatus.HANGUP, "stopped by SIGHUP"),
    ],
)
def test_a_stop_raised_in_a_weakref_callback_is_not_lost(
    tmp_path: Path, stop: str, status: ExitStatus, said: str
) -> None:
    """Python prints an exception raised in a weak reference's callback ("Exception
    ignored in ...") and goes on: a Ctrl-C that came while the import system ran one was
    lost, and the command ran to the end with status 0."""
    proc = run_as_module(tmp_path, STOP_IN_A_CALLBACK.format(stop=stop))
    assert proc.returncode == status, proc.stderr
    assert proc.stderr == f"gradlab: {said}\n"
    assert "the work went on" not in proc.stdout


def test_other_errors_in_a_callback_are_still_printed_as_python_does(tmp_path: Path) -> None:
    proc = run_as_module(tmp_path, STOP_IN_A_CALLBACK.format(stop="ValueError('not a stop')"))
    assert proc.returncode == 0, proc.stderr
    assert "Exception ignored in" in proc.stderr
    assert "ValueError: not a stop" in proc.stderr
    assert "the work went on" in proc.stdout


def test_the_gradlab_script_starts_in_the_guarded_entry() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["gradlab"] == "gradlab.__main__:main"


def test_a_ctrl_c_before_a_command_takes_charge_prints_no_traceback(tmp_path: Path) -> None:
    proc = gradlab_run_with_main(tmp_path, "    raise KeyboardInterrupt\n")
    assert proc.returncode == ExitStatus.INTERRUPTED
    assert proc.stderr == "gradlab: interrupted\n"


def test_without_clearing_the_flag_python_would_exit_by_sigint(tmp_path: Path) -> None:
    """The premise of the test above, on this interpreter: the same script without
    gradlab ends by SIGINT. (If a later CPython clears the flag itself, this test says so.)"""
    code = (
        "try:\n    exec('raise KeyboardInterrupt')\nexcept KeyboardInterrupt:\n    pass\n"
        "raise SystemExit(130)\n"
    )
    assert run_as_module(tmp_path, code).returncode == -signal.SIGINT


# ------------------------------------------------------------------ one run per folder


def test_a_second_run_into_a_busy_folder_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with run_lock(tmp_path):  # another run holds the folder
        code, _, err = run(capsys, "linreg", "--out", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert f"--out {tmp_path} is in use by another gradlab run (process {os.getpid()})" in err
    assert not (tmp_path / "fit.png").exists()
    code, _, _ = run(capsys, "linreg", "--out", str(tmp_path))  # free again
    assert code == 0


def test_temporary_files_of_a_killed_run_are_removed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stale = [tmp_path / ".fit.png.x1y2.part", tmp_path / "sub" / ".loss.png.z9.part"]
    for p in stale:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"half a png")
    keep = tmp_path / "notes.part"  # not one of ours: no leading dot
    keep.write_text("mine")
    code, _, _ = run(capsys, "linreg", "--out", str(tmp_path))
    assert code == 0
    assert not any(p.exists() for p in stale)
    assert keep.read_text() == "mine"


def test_plots_only_commands_with_no_plots_create_no_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "never"
    code, _, _ = run(capsys, "descend", "x**2", "--no-plots", "--out", str(out))
    assert code == 0
    assert not out.exists()


# ------------------------------------------------------------------ writes that fail


def test_a_write_that_fails_for_lack_of_space_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")

    def write_until_the_disk_is_full() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(ResourceError) as info:
        write_until_the_disk_is_full()
    assert str(target) in info.value.message
    assert "No space left on device; the file was left as it was" in info.value.message
    assert "Free some disk space" in (info.value.hint or "")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_an_output_file_that_is_a_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "history.csv").mkdir()
    with pytest.raises(ResourceError) as info:
        write_text(tmp_path / "history.csv", "x")
    assert info.value.message == f"cannot write {tmp_path / 'history.csv'}: it is a folder."
    assert info.value.hint == ("Move the folder away, or choose another output folder (--out DIR).")


def test_cli_checkpoint_path_that_is_a_folder_exits_with_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "model.safetensors").mkdir()
    code, _, err = run(capsys, "train", "softmax", "--epochs", "1", "--out", str(tmp_path))
    assert code == ExitStatus.USAGE  # found before the run (a folder made later: exit 5)
    assert f"{tmp_path / 'model.safetensors'} is a folder, where this command writes" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "make_out",
    [
        lambda base: base / ("a" * 300),  # one component over NAME_MAX (255)
        lambda base: base.joinpath(*["b" * 200] * 25),  # the path over PATH_MAX (4096)
    ],
)
def test_cli_out_paths_too_long_exit_2_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_out
) -> None:
    code, _, err = run(capsys, "linreg", "--out", str(make_out(tmp_path)))
    assert code == ExitStatus.USAGE
    assert "File name too long" in err
    assert "Traceback" not in err


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str = "96k"):
    """A small tmpfs at ``path`` (needs root and mount rights; skips otherwise)."""
    path.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_cli_full_disk_exits_with_its_status_and_keeps_finished_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with tiny_filesystem(tmp_path / "small") as out:
        code, _, err = run(capsys, "linreg", "--out", str(out))
        assert code == ExitStatus.RESOURCE
        assert "No space left on device; the file was left as it was." in err
        assert "Traceback" not in err
        assert not list(out.glob(".*.part"))  # nothing half-written left behind


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
@pytest.mark.parametrize("fill", [0.9, 1.0], ids=["checkpoint-does-not-fit", "disk-full"])
def test_cli_train_on_a_full_disk_exits_with_its_status_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fill: float
) -> None:
    """safetensors' own writer raised its SafetensorError (a traceback); a full disk also
    failed the run lock's pid write."""
    with tiny_filesystem(tmp_path / "small", size="64k") as disk:
        with contextlib.suppress(OSError):
            (disk / "filler").write_bytes(b"x" * int(64 * 1024 * fill))
        argv = ["train", "mlp", "--hidden", "50", "--epochs", "1", "--quiet", "--no-plots"]
        code, out, err = run(capsys, *argv, "--json", "--out", str(disk / "run"))
        assert code == ExitStatus.RESOURCE, err
        assert "No space left on device" in err
        assert "Traceback" not in err
        assert only_json(out)["error"]["kind"] == "resource"
        assert not list(disk.rglob(".*.part"))


def test_a_full_disk_while_the_run_lock_is_written_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(ResourceError) as info, run_lock(tmp_path / "out"):
        pass
    assert info.value.message == (
        f"cannot write {tmp_path / 'out' / '.gradlab.lock'}: No space left on device; the "
        "file was left as it was."
    )


def test_a_checkpoint_write_that_fails_is_a_write_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint is written by Python, whose errors are OSErrors (safetensors' own
    writer raises a SafetensorError that no handler knows)."""
    from gradlab import checkpoint

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    target = tmp_path / "m.safetensors"
    with pytest.raises(ResourceError, match=r"m\.safetensors: No space left on device; the file"):
        checkpoint.save(target, {"w": np.zeros(3, np.float32)}, {"kind": "x"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "said", "hint"),
    [
        (
            ["predict", "--checkpoint", "a" * 300],
            "gradlab predict: error: " + "a" * 300,
            "Check the path and what is there.",  # the last resort, in the CLI
        ),
        (
            ["train", "softmax", "--dataset", "mnist", "--data-dir", "d" * 300, "--no-plots"],
            "gradlab train: error: " + "d" * 300,
            "Check --data-dir and --cache-dir (or GRADLAB_DATA).",  # load_images's own
        ),
    ],
    ids=["checkpoint", "data-dir"],
)
def test_a_path_too_long_is_named_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], said: str, hint: str
) -> None:
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "o"))
    assert code == ExitStatus.USAGE
    assert said in err
    assert err.endswith(f": File name too long.\n{hint}\n")
    assert "Traceback" not in err


def test_the_last_resort_for_an_operating_system_error_names_the_file() -> None:
    from gradlab.io import os_error

    full = os_error(OSError(errno.ENOSPC, "No space left on device", "/x/y"))
    assert isinstance(full, ResourceError)
    assert full.message == "/x/y: No space left on device."
    loop = os_error(OSError(errno.ELOOP, "Too many levels of symbolic links", "a"))
    assert isinstance(loop, UsageError)
    assert loop.message == "a: Too many levels of symbolic links."
    assert os_error(OSError(errno.EIO, "Input/output error")).message == "Input/output error."


@pytest.mark.parametrize("kind", ["loop", "dangling"])
def test_a_checkpoint_link_to_nothing_is_said_to_be_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    link = tmp_path / "m.safetensors"
    if kind == "loop":
        (tmp_path / "other").symlink_to(link)
        link.symlink_to(tmp_path / "other")
    else:
        link.symlink_to(tmp_path / "missing")
    code, _, err = run(capsys, "predict", "--checkpoint", str(link), "--out", str(tmp_path / "o"))
    assert code == ExitStatus.USAGE
    reason = "Too many levels of symbolic links" if kind == "loop" else "No such file or directory"
    assert f"error: {link}: a symbolic link that leads to no file ({reason})." in err


def test_an_out_folder_that_is_a_dangling_link_is_said_to_be_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "missing")
    code, _, err = run(capsys, "train", "softmax", "--out", str(link))
    assert code == ExitStatus.USAGE
    assert f"error: --out {link} is a symbolic link that leads to no folder." in err


def test_running_out_of_memory_is_a_message_and_its_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr("gradlab.data.points.make_line", no_memory)
    code, _, err = run(capsys, "linreg", "--no-plots")
    assert code == ExitStatus.RESOURCE
    assert "gradlab linreg: error: ran out of memory." in err


def test_usage_error_is_still_raised_for_library_callers(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(UsageError, match="a part of that path is a file, not a folder"):
        write_text(tmp_path / "afile" / "x.txt", "x")


def test_a_run_refused_for_bad_input_leaves_no_folder_behind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "new"
    code, _, _ = run(capsys, "descend", "x**", "--out", str(out))
    assert code == ExitStatus.USAGE
    assert not out.exists()


def test_a_run_that_writes_nothing_leaves_not_even_the_parents_it_made(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`gradlab compare --tutorial` (results on stdout only) left an empty runs/ behind."""
    (tmp_path / "kept").mkdir()
    for out in (tmp_path / "runs" / "compare", tmp_path / "kept" / "a" / "b"):
        code, _, _ = run(capsys, "descend", "x**", "--out", str(out))
        assert code == ExitStatus.USAGE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    assert list((tmp_path / "kept").iterdir()) == []
    with run_lock(tmp_path / "x" / "y") as folder:  # a parent holding a file stays
        (tmp_path / "x" / "note").write_text("mine")
        assert folder == tmp_path / "x" / "y"
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["note"]


def test_the_lock_is_released_and_its_file_removed_after_a_run(tmp_path: Path) -> None:
    with run_lock(tmp_path) as folder:
        assert (folder / ".gradlab.lock").read_text().strip() == str(os.getpid())
    assert list(tmp_path.iterdir()) == []
    with run_lock(tmp_path):  # can be taken again at once
        pass


# ------------------------------------------------------------------ comma lists


@pytest.mark.parametrize(
    ("argv", "flag", "text"),
    [
        (["train", "mlp", "--hidden", ","], "--hidden", ","),
        (["train", "mlp", "--hidden", "10,,10"], "--hidden", "10,,10"),
        (["descend", "sin(x)", "--lr", "0.1,,0.2"], "--lr", "0.1,,0.2"),
        (["descend", "sin(x)", "--lr", "0.1,"], "--lr", "0.1,"),
        (["descend", "sin(x)", "--optimizer", "sgd,,adam"], "--optimizer", "sgd,,adam"),
        (["compare", "--methods", "sgd,,batch"], "--methods", "sgd,,batch"),
    ],
)
def test_an_empty_item_in_a_comma_list_is_refused_not_dropped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], flag: str, text: str
) -> None:
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "out"))
    assert code == ExitStatus.USAGE
    assert f"argument {flag}: an empty item in {text!r}; separate the items by single commas" in err
    assert not (tmp_path / "out").exists()


def test_a_blank_hidden_list_still_means_no_hidden_layer() -> None:
    from gradlab.commands._classifiers import hidden_sizes

    assert hidden_sizes("") == ()
    assert hidden_sizes(" 10 , 20 ") == (10, 20)


# ------------------------------------------------------------------ paths given empty or unwritable


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "softmax", "--out", ""],
        ["linreg", "--csv", " ", "--out", "x"],
        ["predict", "--checkpoint", ""],
        ["bench", "--markdown", ""],
    ],
)
def test_an_empty_path_is_refused_not_read_as_the_current_folder(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == ExitStatus.USAGE
    assert ": an empty path; give a file or folder name" in err


def test_bench_refuses_an_unwritable_markdown_file_before_it_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    start = time.monotonic()
    code, _, err = run(capsys, "bench", "--markdown", "/proc/x.md", "--out", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert "--markdown /proc/x.md: cannot write in /proc (" in err
    assert time.monotonic() - start < 30  # refused, not benchmarked first
    assert list(tmp_path.iterdir()) == []


def test_check_out_file_names_a_folder_a_missing_folder_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    from gradlab.io import check_out_file

    with pytest.raises(UsageError, match=re.escape(f"--markdown {tmp_path} is a folder, not")):
        check_out_file(tmp_path, option="--markdown")
    missing = tmp_path / "no" / "x.md"
    with pytest.raises(UsageError, match=re.escape(f"no folder {tmp_path / 'no'} to write it in")):
        check_out_file(missing, option="--markdown")
    assert check_out_file(tmp_path / "x.md", option="--markdown") == tmp_path / "x.md"
    assert list(tmp_path.iterdir()) == []  # the probe is gone, the file not yet made


def test_descend_refuses_a_step_budget_past_its_memory_bound(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from gradlab.functions import minimize
    from gradlab.params import MAX_DESCENT_STEPS

    too_many = str(MAX_DESCENT_STEPS + 1)
    code, _, err = run(capsys, "descend", "sin(x)", "--steps", too_many, "--out", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert f"argument --steps: must be at most 1,000,000, got '{too_many}'" in err
    with pytest.raises(UsageError, match=r"minimize: steps must be an integer in \[1, 1000000\]"):
        minimize("x**2", x0=1.0, steps=MAX_DESCENT_STEPS + 1)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["linreg", "--n", "1"], "error: argument --n: must be 2 or more, got '1'\n"),
        (["linreg", "--n", "0"], "error: argument --n: must be 2 or more, got '0'\n"),
        (["linreg", "--noise", "-1"], "error: --noise must be a number >= 0; got -1.0.\n"),
        (
            ["lr-find", "softmax", "--steps", "3"],
            "error: argument --steps: must be 10 or more, got '3'",
        ),
        (
            ["lr-find", "softmax", "--min-lr", "1", "--max-lr", "0.1"],
            "error: --min-lr must be below --max-lr; got --min-lr=1, --max-lr=0.1.",
        ),
    ],
)
def test_a_bad_setting_is_named_by_its_flag_not_by_a_function_parameter(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], said: str
) -> None:
    code, _, err = run(capsys, *argv, "--no-plots" if argv[0] == "linreg" else "--quiet",
                       "--out", str(tmp_path / "out"))  # fmt: skip
    assert code == ExitStatus.USAGE
    assert said in err
    assert "make_line" not in err
    assert "lr_range_test" not in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (  # once an OverflowError from the estimator's check (float() of 400 digits)
            ["compare", "--batch-size", "9" * 400, "--engines", "numpy", "--no-plots"],
            "error: argument --batch-size: must be at most 9,223,372,036,854,775,807, got '999",
        ),
        (  # more digits than int() converts: once "is not a whole number"
            ["train", "softmax", "--seed", "9" * 5000],
            "error: argument --seed: must be at most 9,223,372,036,854,775,807, got '999",
        ),
        (["train", "softmax", "--seed", "-" + "9" * 5000], "error: argument --seed: must be 0 or"),
        (["descend", "x**2", "--show", "9_223_372_036_854_775_808"], "--show: must be at most"),
    ],
)
def test_a_huge_whole_number_is_out_of_range(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], said: str
) -> None:
    code, _, err = run(capsys, *argv, "--out", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert said in err


def test_a_file_name_that_is_not_utf8_is_printed_as_its_bytes(tmp_path: Path) -> None:
    """Under a UTF-8 locale Python's stdout refuses the surrogate that stands for such a
    byte: the run trained, then ended in a UnicodeEncodeError as it printed the files."""
    out = tmp_path / "run\udcff"  # the folder b"run\xff", as sys.argv carries it
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    with contextlib.redirect_stdout(stdout):
        code = main(["train", "softmax", "--epochs", "1", "--no-plots", "--quiet",
                     "--out", str(out)])  # fmt: skip
    assert code == 0
    assert b"Files: " + os.fsencode(out / "model.safetensors") in raw.getvalue()
    assert stdout.errors == "strict"  # as it was, after the run
    stdout.detach()


def test_a_warmup_schedule_of_zero_steps_is_refused_not_replaced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["train", "softmax", "--schedule", "warmup", "--warmup-steps", "0", "--epochs", "1"]
    code, _, err = run(capsys, *argv, "--no-plots", "--quiet", "--out", str(tmp_path / "o"))
    assert code == ExitStatus.USAGE
    assert err == (  # named by its flag, not by the estimator's parameter
        "gradlab train: error: the warmup schedule needs --warmup-steps >= 1; got 0.\n"
        "Leave it out for a warm-up over the first epoch, or choose another schedule.\n"
    )
    code, _, err = run(capsys, *argv[:4], "--epochs", "1", "--no-plots", "--quiet",
                       "--out", str(tmp_path / "p"))  # fmt: skip
    assert code == 0, err  # left out: a warm-up over the first epoch


@pytest.mark.parametrize("kind", ["folder", "pipe"])
def test_an_idx_name_that_is_a_folder_or_pipe_is_named_not_reported_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    from gradlab.bench.cold import write_job
    from gradlab.data.synthetic import make_images

    data = tmp_path / "data"
    write_job(data, make_images(20, 10, seed=0), "softmax")
    odd = data / "train-images-idx3-ubyte"
    odd.unlink()
    odd.mkdir() if kind == "folder" else os.mkfifo(odd)
    code, _, err = run(capsys, "train", "softmax", "--dataset", "mnist", "--data-dir", str(data),
                       "--no-plots", "--quiet", "--out", str(tmp_path / "o"))  # fmt: skip
    assert code == ExitStatus.USAGE
    what = "a folder" if kind == "folder" else "not a regular file"
    assert f"{odd}: is {what}; the mnist file train-images-idx3-ubyte must be a file on" in err


def test_linreg_refuses_generated_data_flags_beside_a_csv(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text("1,2\n2,4\n3,7\n")
    code, _, err = run(capsys, "linreg", "--csv", str(csv), "--n", "5", "--w", "3",
                       "--no-plots", "--out", str(tmp_path / "o"))  # fmt: skip
    assert code == ExitStatus.USAGE
    assert "error: --n, --w describe generated data, which --csv replaces; leave them out." in err
    code, _, err = run(capsys, "linreg", "--csv", str(csv), "--w", "3", "--no-plots", "--out",
                       str(tmp_path / "o"))  # fmt: skip
    assert code == ExitStatus.USAGE
    assert "error: --w describes generated data, which --csv replaces; leave it out." in err
    code, _, err = run(capsys, "linreg", "--csv", str(csv), "--no-plots", "--out",
                       str(tmp_path / "o"))  # fmt: skip
    assert code == 0, err


@pytest.mark.parametrize(
    ("flags", "message", "hint"),
    [
        (
            ["--init-w", "1e308"],
            "error: the loss at the start (--init-w 1e+308, --init-b 0) is inf: those values "
            "are too large for this data.",
            "Start nearer zero, or leave --init-w and --init-b out (zeros).",
        ),
        (
            ["--noise", "1e300"],
            "error: --w 1.5, --b 4 and --noise 1e+300 make values as large as 2.4e+300; least "
            "squares on 100 points needs every value within 6.7e+152, or its sums of squares "
            "overflow float64.",
            "Choose a smaller --w, --b or --noise.",
        ),
    ],
    ids=["start", "generated"],
)
def test_linreg_names_the_flag_whose_value_overflows_the_loss(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: list[str], message: str, hint: str
) -> None:
    """Not a divergence blamed on the rate, and no NumPy overflow warning on the way."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        code, _, err = run(capsys, "linreg", *flags, "--no-plots", "--out", str(tmp_path / "o"))
    assert code == ExitStatus.USAGE
    assert err == f"gradlab linreg: {message}\n{hint}\n"


def test_train_refuses_momentum_with_an_optimizer_that_does_not_use_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "train", "softmax", "--epochs", "1", "--momentum", "0.5",
                       "--optimizer", "adam", "--no-plots", "--quiet",
                       "--out", str(tmp_path))  # fmt: skip
    assert code == ExitStatus.USAGE
    assert err == (
        "gradlab train: error: --momentum is plain SGD's; --optimizer adam does not use it.\n"
        "Leave --momentum out (momentum and nesterov bring their own 0.9), or choose "
        "--optimizer sgd.\n"
    )


def test_train_names_the_flag_that_is_the_subject_of_an_estimators_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "train", "softmax", "--epochs", "1", "--momentum", "1",
                       "--no-plots", "--quiet", "--out", str(tmp_path))  # fmt: skip
    assert code == ExitStatus.USAGE
    assert err == "gradlab train: error: --momentum must be a number in [0, 1); got 1.0.\n"


def test_lr_find_refuses_momentum_it_would_ignore_and_names_its_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["lr-find", "softmax", "--steps", "12", "--no-plots", "--out", str(tmp_path)]
    assert run(capsys, *argv, "--optimizer", "adam", "--momentum", "0.5")[2] == (
        "gradlab lr-find: error: --momentum is plain SGD's; --optimizer adam does not use it.\n"
        "Leave --momentum out (momentum and nesterov bring their own 0.9), or choose "
        "--optimizer sgd.\n"
    )
    code, _, err = run(capsys, *argv, "--momentum", "1")
    assert code == ExitStatus.USAGE
    assert err == "gradlab lr-find: error: --momentum must be a number in [0, 1); got 1.0.\n"


def test_lr_find_csv_holds_plain_numbers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "lr-find", "softmax", "--steps", "12", "--no-plots",
                       "--out", str(tmp_path))  # fmt: skip
    assert code == 0, err
    rows = (tmp_path / "lr-find.csv").read_text().splitlines()
    assert rows[0] == "step,lr,loss,smoothed"
    for row in rows[1:]:
        [float(cell) for cell in row.split(",")]  # np.float64(...) would not parse


def test_history_json_is_strict_json_where_an_epoch_has_no_validation_loss(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Early stopping turned on when resuming: the first epochs have no validation loss.
    JSON has no NaN; they are null (history.csv keeps nan, which CSV readers take)."""
    base = ["train", "softmax", "--no-plots", "--quiet", "--out", str(tmp_path)]
    assert run(capsys, *base, "--epochs", "1")[0] == 0
    code, _, err = run(capsys, *base, "--epochs", "2", "--resume", "--early-stopping", "2",
                       "--validation-fraction", "0.2")  # fmt: skip
    assert code == 0, err
    text = (tmp_path / "history.json").read_text()
    columns = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in history.json"))
    assert columns["columns"]["val_loss"][0] is None


def test_a_warning_during_a_command_is_one_line_naming_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = ["train", "softmax", "--no-plots", "--quiet", "--out", str(tmp_path)]
    assert run(capsys, *base, "--epochs", "1")[0] == 0
    code, _, err = run(capsys, *base, "--epochs", "2", "--resume", "--optimizer", "adam")
    assert code == 0, err
    assert (
        f"gradlab train: warning: {tmp_path}/model.safetensors holds the state of sgd, not "
        "adam: SoftmaxRegression resumes with a fresh adam state.\n"
    ) in err
    assert "UserWarning" not in err


@pytest.mark.parametrize(("optimizer", "rate"), [("sgd", 0.1), ("adam", 0.001)])
def test_train_takes_lr_auto_as_its_help_says_the_default_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, optimizer: str, rate: float
) -> None:
    code, out, err = run(capsys, "train", "softmax", "--lr", "auto", "--optimizer", optimizer,
                         "--epochs", "1", "--no-plots", "--quiet", "--json",
                         "--out", str(tmp_path))  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["lr"] == rate


def test_descend_names_the_x0_flag_when_the_start_does_not_fit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "descend", "x**2 + y", "--x0", "1", "--no-plots",
                       "--out", str(tmp_path))  # fmt: skip
    assert code == ExitStatus.USAGE
    assert err == (
        "gradlab descend: error: --x0 has 1 value(s) but 'x**2 + y' is a function of x and "
        "y: give 2 starting value(s), one per variable (x, y)\n"
    )


def test_lr_find_suggests_a_train_command_with_the_same_seed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "lr-find", "softmax", "--steps", "12", "--seed", "3",
                         "--no-plots", "--out", str(tmp_path / "lf"))  # fmt: skip
    assert code == 0, err
    assert "Train with it: gradlab train softmax --seed 3 --lr " in out


@pytest.mark.parametrize("value", ["-1e200", "-1E+200", "-.1e201"])
def test_a_negative_value_with_an_exponent_is_read_as_the_options_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str
) -> None:
    """Python 3.11's argparse took "-1e200" for an option ("expected one argument")."""
    code, _, err = run(capsys, "linreg", "--init-b", value, "--no-plots",
                       "--out", str(tmp_path / "o"))  # fmt: skip
    assert code == ExitStatus.USAGE
    assert "expected one argument" not in err
    assert "error: the loss at the start (--init-w 0, --init-b -1e+200) is inf" in err


def test_an_option_after_an_option_that_takes_a_value_is_still_an_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "linreg", "--init-b", "--no-plots")
    assert code == ExitStatus.USAGE
    assert "error: argument --init-b: expected one argument" in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["lr-find", "softmax", "--steps", "1" + "0" * 22], "argument --steps: must be at most "
         "1,000,000, got '1" + "0" * 22 + "'"),
        (["train", "mlp", "--hidden", "10," + "9" * 20], "argument --hidden: widths must be at "
         "most 100,000, got '10," + "9" * 20 + "'"),
        (["linreg", "--n=" + "9" * 20], "argument --n: must be at most 10,000,000"),
        (["linreg", "--iters", "1" + "0" * 12], "argument --iters/--epochs: must be at most "
         "1,000,000"),
        (["compare", "--epochs", "1" + "0" * 11], "argument --epochs: must be at most 1,000,000"),
        (["train", "softmax", "--epochs", "1" + "0" * 7], "argument --epochs: must be at most "
         "1,000,000"),
    ],
    ids=["lr-find-steps", "hidden", "linreg-n", "linreg-iters", "compare-epochs", "train-epochs"],
)  # fmt: skip
def test_a_count_too_large_to_run_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], said: str
) -> None:
    """Such numbers ran out of memory slowly, or raised NumPy's "Maximum allowed size"."""
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "o"))
    assert code == ExitStatus.USAGE
    assert f"error: {said}" in err


@pytest.mark.parametrize(
    ("formula", "derivative"),
    [("-x**2+x", "1 - 2*x"), ("-sin(x)", "-cos(x)"), ("-x/2 + x**2", "2*x - 1/2")],
)
def test_a_formula_that_starts_with_a_minus_is_read_as_the_formula(
    capsys: pytest.CaptureFixture[str], formula: str, derivative: str
) -> None:
    """argparse took "-x**2" for an unknown option ("required: EXPR|NAME")."""
    code, out, err = run(capsys, "descend", formula, "--steps", "3", "--no-plots")
    assert code == 0, err
    assert out.startswith(f"f(x) = {formula}\nf'(x) = {derivative}\n")


def test_a_dashed_word_read_as_an_option_gets_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "descend", "-x", "--no-plots")
    assert code == ExitStatus.USAGE
    assert err.endswith(
        "error: the following arguments are required: EXPR|NAME\n'-x' reads as an option. "
        "Write a formula that starts with a minus as '0-x', and an option's value as "
        "--option=-x.\n"
    )


def test_predict_refuses_a_seed_its_data_set_does_not_use(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "predict", "--seed", "5", "--out", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert err.endswith(
        "error: --seed chooses which synthetic images to generate; --dataset digits does not "
        "use it.\nLeave --seed out, or add --dataset synthetic.\n"
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["--problem", "breast-cancer", "--loss", "mse"],
            "error: --loss 'mse' is not a loss of the breast-cancer problem, which takes 'bce' "
            "or 'bce_sum'.",
        ),
        (["--problem", "line", "--loss", "bce"], "error: --loss 'bce' is not a loss of the line"),
        (["--engines", "numpy,numpy"], "error: argument --engines: engine numpy is given twice"),
        (["--methods", "sgd,batch,sgd"], "error: argument --methods: method sgd is given twice"),
    ],
    ids=["logistic-mse", "line-bce", "engines", "methods"],
)
def test_compare_refuses_a_loss_its_problem_lacks_and_repeated_items_before_any_fit(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    code, out, err = run(capsys, "compare", "--engines", "numpy", *argv, "--no-plots")
    assert code == ExitStatus.USAGE
    assert said in err
    assert "fitting with" not in out + err


def test_a_reader_that_leaves_early_ends_the_run_with_141_and_no_traceback(
    tmp_path: Path,
) -> None:
    """`gradlab ... | head -1`: the rest of the output (and whatever was left to do) is not
    done, so not a success; and no message, since the reader is gone (as SIGPIPE ends a
    Unix tool)."""
    argv = ["lr-find", "softmax", "--steps", "20000", "--no-plots", "--json", "--quiet",
            "--out", str(tmp_path / "o")]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradlab", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.readline().strip() == b"{"  # the JSON (1.5 MB) has begun
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == ExitStatus.BROKEN_PIPE == 141
    assert err == b""


def test_linreg_draws_its_loss_chart_in_ascii_where_stdout_takes_no_unicode(
    tmp_path: Path,
) -> None:
    """The Unicode blocks raised UnicodeEncodeError (a traceback) on an ASCII stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "gradlab", "linreg", "--iters", "50", "--no-plots", "--out",
         str(tmp_path)],
        env={**os.environ, "PYTHONIOENCODING": "ascii"}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    chart = next(t for t in done.stdout.splitlines() if t.startswith("Loss per epoch"))
    assert re.fullmatch(r"Loss per epoch \(log scale\): [ _.\-:=+*#]{10,60}", chart), chart


def test_linreg_shows_the_first_weights_of_a_wide_fit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv = tmp_path / "wide.csv"
    rng = np.random.default_rng(0)
    csv.write_text("\n".join(",".join(f"{v:.3f}" for v in row) for row in rng.random((5, 21))))
    code, out, _ = run(capsys, "linreg", "--csv", str(csv), "--iters", "3", "--no-plots",
                       "--out", str(tmp_path / "o"))  # fmt: skip
    assert code == 0
    assert "w = [0, 0, 0, 0, 0, 0, 0, 0, ... and 12 more]" in out
    gap = next(t for t in out.splitlines() if t.startswith("Gap to the closed form"))
    assert ", ... and 12 more, error " in gap


def test_a_ctrl_c_inside_an_import_that_became_its_error_exits_130(tmp_path: Path) -> None:
    """matplotlib's ft2font and NumPy turn a Ctrl-C during their import into an ImportError
    ("initialization failed", "your installation is broken"): exit 1 and a traceback."""
    body = (
        "    import gradlab.cli as c\n"
        "    def broken(args):\n"
        "        try:\n            raise KeyboardInterrupt\n"
        "        except KeyboardInterrupt as exc:\n"
        "            raise ImportError('initialization failed') from exc\n"
        "    c._command('env').run = broken\n"
        "    return c.__dict__['_real_main'](['env', '--json'])\n"
    )
    code = ("import gradlab.cli as cli\ncli._real_main = cli.main\ndef main():\n" + body
            + "cli.main = main\ncli.run()\n")  # fmt: skip
    proc = run_as_module(tmp_path, code)
    assert proc.returncode == ExitStatus.INTERRUPTED, proc.stderr
    assert proc.stderr == "gradlab env: interrupted\n"
    assert json.loads(proc.stdout)["error"]["kind"] == "interrupted"


@pytest.mark.parametrize(
    ("signame", "status", "said"),
    [
        ("SIGTERM", ExitStatus.TERMINATED, "gradlab: stopped by SIGTERM\n"),
        ("SIGHUP", ExitStatus.HANGUP, "gradlab: stopped by SIGHUP\n"),
    ],
)
def test_a_stop_signal_before_a_command_takes_charge_exits_with_its_status_and_a_line(
    tmp_path: Path, signame: str, status: int, said: str
) -> None:
    """SIGTERM's handler was installed only around the command, after the parser was built
    (the process died as -15, with no word); SIGHUP, a closed terminal, had none (-1)."""
    body = (
        f"    import os, signal, time\n    os.kill(os.getpid(), signal.{signame})\n"
        "    time.sleep(5)\n"
    )
    proc = gradlab_run_with_main(tmp_path, body)
    assert proc.returncode == status, proc.stderr
    assert proc.stderr == said


def test_under_nohup_sighup_stays_ignored_and_the_run_finishes(tmp_path: Path) -> None:
    body = "    import os, signal\n    os.kill(os.getpid(), signal.SIGHUP)\n    return 0\n"
    code = (
        "import signal\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "import gradlab.cli as cli\ndef main():\n" + body + "cli.main = main\ncli.run()\n"
    )
    proc = run_as_module(tmp_path, code)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_sighup_with_the_terminal_gone_still_exits_129(tmp_path: Path) -> None:
    """After SIGHUP, writing to the closed terminal fails (EIO). The command's last words
    then raised an OSError out of its clean-up: exit 5 for a full disk, or a traceback."""
    body = (
        "    import errno, io, os, signal, sys, time\n"
        "    import gradlab.cli as c\n"
        "    class Gone(io.TextIOBase):\n"
        "        def write(self, text):\n"
        "            raise OSError(errno.EIO, 'Input/output error')\n"
        "    def stopped(args):\n"
        "        sys.stderr = Gone()\n"
        "        try:\n"
        "            os.kill(os.getpid(), signal.SIGHUP)\n            time.sleep(5)\n"
        "        except KeyboardInterrupt:\n"
        "            print('saving what was done', file=sys.stderr)\n"
        "    c._command('env').run = stopped\n"
        "    return c.__dict__['_real_main'](['env'])\n"
    )
    code = ("import gradlab.cli as cli\ncli._real_main = cli.main\ndef main():\n" + body
            + "cli.main = main\ncli.run()\n")  # fmt: skip
    proc = run_as_module(tmp_path, code)
    assert proc.returncode == ExitStatus.HANGUP, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_signal_after_the_status_is_chosen_does_not_replace_it(tmp_path: Path) -> None:
    """A Ctrl-C, SIGTERM or SIGHUP after the work was done and printed turned exit 0 into a
    death by the signal (-2, -15, -1) or a traceback from the interpreter's shutdown."""
    code = (
        "import atexit, os, signal\nimport gradlab.cli as cli\n"
        "def late():\n    os.kill(os.getpid(), signal.SIGINT)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n    os.kill(os.getpid(), signal.SIGHUP)\n"
        "atexit.register(late)\n"
        "cli.main = lambda: 0\ncli.run()\n"
    )
    proc = run_as_module(tmp_path, code)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_ctrl_c_while_the_last_pictures_are_drawn_still_says_what_is_saved(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradlab.jobs.predictions as predictions

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(predictions, "draw_predictions", interrupted)
    code, out, err = run(capsys, "train", "softmax", "--epochs", "2", "--out", str(tmp_path),
                         "--json", "--quiet")  # fmt: skip
    assert code == ExitStatus.INTERRUPTED
    error = json.loads(out)["error"]
    assert (error["saved_epochs"], error["checkpoint"]) == (2, str(tmp_path / "model.safetensors"))
    assert "gradlab train: interrupted; epoch 2 is saved in" in err


STUCK_IN_A_NATIVE_CALL = """import gradlab.cli as cli, gradlab.process as process
process.STOP_GRACE_SECONDS = 0.5
def main(argv=None):
    import ctypes, os, signal, threading
    stuck = ctypes.CDLL(None).sleep
    # the main thread cannot take the signal (as inside a C++ wait): another thread gets it,
    # sent once the main thread is inside the call (else it could take it before)
    signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.{name}}})
    threading.Timer(1.0, os.kill, (os.getpid(), signal.{name})).start()
    stuck(20)
    print("the call returned")
    return 0
cli.main = main
cli.run()
"""


@pytest.mark.parametrize(
    ("name", "status"), [("SIGTERM", ExitStatus.TERMINATED), ("SIGINT", ExitStatus.INTERRUPTED)]
)
def test_a_stop_ends_a_run_stuck_in_a_native_call_after_the_grace_period(
    tmp_path: Path, name: str, status: ExitStatus
) -> None:
    """A torchrun worker waiting in DDP's reduction for a partner that had died took no
    notice of its launcher's SIGTERM, and was killed by SIGKILL 30 s later."""
    start = time.monotonic()
    proc = run_as_module(tmp_path, STUCK_IN_A_NATIVE_CALL.format(name=name), as_a_worker_of_two())
    assert proc.returncode == status, proc.stderr
    assert time.monotonic() - start < 15  # not the call's 20 s
    assert proc.stderr == (
        f"gradlab: {name} came while the run was inside a call that did not return within "
        "0.5 s; ending the process\n"
    )
    assert "the call returned" not in proc.stdout


STUCK_WHILE_WRITING = """import gradlab.cli as cli, gradlab.process as process
from gradlab.io import atomic_path
process.STOP_GRACE_SECONDS = 0.5
def main(argv=None):
    import ctypes, os, signal, threading
    signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGTERM}})
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    with atomic_path({target!r}) as part:
        part.write_text("half of it")
        print(part.name, flush=True)
        ctypes.CDLL(None).sleep(20)
    return 0
cli.main = main
cli.run()
"""


def test_a_run_ended_by_the_grace_period_leaves_no_temporary_file(tmp_path: Path) -> None:
    """``os._exit`` skips the ``atomic_path`` block's clean-up: the deadline removes the
    temporary files of the writes under way itself."""
    target = tmp_path / "out" / "model.safetensors"
    script = STUCK_WHILE_WRITING.format(target=str(target))
    proc = run_as_module(tmp_path, script, as_a_worker_of_two())
    assert proc.returncode == ExitStatus.TERMINATED, proc.stderr
    assert "did not return within 0.5 s; ending the process" in proc.stderr
    part = proc.stdout.strip()
    assert part.endswith(".part")
    assert sorted(p.name for p in target.parent.iterdir()) == []


def test_a_finished_write_is_no_longer_a_write_under_way(tmp_path: Path) -> None:
    from gradlab import io

    target = tmp_path / "a.txt"
    with io.atomic_path(target) as part:
        part.write_text("all of it")
        assert io._parts_under_way == {part}
    assert io._parts_under_way == set()
    with pytest.raises(KeyError), io.atomic_path(tmp_path / "b.txt") as part:
        raise KeyError("a failed write")
    assert io._parts_under_way == set()
    io.remove_parts_under_way()  # with none under way, removes nothing
    assert target.read_text() == "all of it"


TAKEN_THEN_WORK = """import gradlab.cli as cli, gradlab.process as process
from gradlab.errors import Terminated
process.STOP_GRACE_SECONDS = 0.5
def main(argv=None):
    import os, signal, time
    {how}
    time.sleep(1.5)  # three grace periods
    print("went on")
    return 0
cli.main = main
cli.run()
"""


@pytest.mark.parametrize(
    "how",
    [
        "try:\n        os.kill(os.getpid(), signal.SIGTERM)\n        time.sleep(5)\n"
        "    except Terminated:\n        pass",
        "pid = os.fork()\n    if pid == 0:\n        try:\n            os.kill(os.getpid(), "
        "signal.SIGTERM)\n            time.sleep(5)\n        finally:\n            os._exit(0)\n"
        "    os.waitpid(pid, 0)",
    ],
    ids=["the-main-thread-took-it", "a-forked-child-got-it"],
)
def test_the_grace_period_ends_nothing_where_the_stop_was_taken_or_not_ours(
    tmp_path: Path, how: str
) -> None:
    """Once the main thread ran the stop's handler it acts on the stop itself; and a forked
    child's signal, written to the pipe the parent watches, must not end the parent."""
    proc = run_as_module(tmp_path, TAKEN_THEN_WORK.format(how=how), as_a_worker_of_two())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "went on\n"
    assert proc.stderr == ""


def test_the_deadline_leaves_a_wakeup_fd_that_is_in_use_alone() -> None:
    """An event loop (asyncio, Jupyter's kernel) owns the wakeup fd where it set one."""
    from gradlab.process import StopDeadline

    read, write = os.pipe()
    os.set_blocking(write, False)
    before = signal.set_wakeup_fd(write)
    try:
        deadline = StopDeadline()
        assert not deadline.active
        deadline.close()
        assert signal.set_wakeup_fd(before) == write
    finally:
        os.close(read)
        os.close(write)


def test_the_deadline_gives_the_wakeup_fd_back_when_the_block_ends() -> None:
    from gradlab.process import StopDeadline

    deadline = StopDeadline()
    assert deadline.active
    deadline.close()
    assert signal.set_wakeup_fd(-1) == -1
    assert not deadline._thread.is_alive()


@pytest.mark.parametrize(
    ("world_size", "armed"), [(None, False), ("1", False), ("2", True), ("two", False)]
)
def test_the_deadline_is_armed_in_a_worker_of_several_only(
    monkeypatch: pytest.MonkeyPatch, world_size: str | None, armed: bool
) -> None:
    """A launcher's Ctrl-C is taken by PyTorch's elastic agent, which then stops its
    workers for several seconds: a deadline there ended the launcher first."""
    from gradlab.cli import _stop_signals_as_exceptions

    if world_size is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", world_size)
    with _stop_signals_as_exceptions():
        inside = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(inside)
    assert (inside != -1) == armed
    assert signal.set_wakeup_fd(-1) == -1


@pytest.mark.parametrize(
    ("argv", "said", "hint"),
    [
        (
            ["compare", "--tutorial", "--lr", "0.1", "--problem", "line"],
            "--tutorial runs the tutorial's own problem, engines and settings, and prints its "
            "results; --problem, --lr would be ignored.",
            "Leave them out, or drop --tutorial to compare with your own settings.",
        ),
        (
            ["compare", "--tutorial", "--engines", "numpy", "--methods", "sgd"],
            "--tutorial runs the tutorial's own problem, engines and settings, and prints its "
            "results; --engines, --methods would be ignored.",
            "Leave them out, or drop --tutorial to compare with your own settings.",
        ),
        (
            ["compare", "--tutorial", "--batch-size", "10"],
            "--tutorial runs the tutorial's own problem, engines and settings, and prints its "
            "results; --batch-size would be ignored.",
            "Leave it out, or drop --tutorial to compare with your own settings.",
        ),
        (
            ["compare", "--batch-size", "10", "--methods", "batch,sgd"],
            "--batch-size is the minibatch method's; --methods batch,sgd does not use it.",
            "Add minibatch to --methods, or leave --batch-size out.",
        ),
        (
            ["linreg", "--batch-size", "5", "--method", "sgd"],
            "--batch-size is the minibatch method's; --method sgd does not use it.",
            "Add --method minibatch, or leave --batch-size out.",
        ),
        (
            ["linreg", "--batch-size", "5"],
            "--batch-size is the minibatch method's; --method batch does not use it.",
            "Add --method minibatch, or leave --batch-size out.",
        ),
    ],
    ids=[
        "tutorial, problem and rate",
        "tutorial, engines",
        "tutorial, batch size",
        "compare",
        "linreg sgd",
        "linreg",
    ],
)
def test_an_option_the_run_would_ignore_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], said: str, hint: str
) -> None:
    """compare --tutorial ran the stock tutorial whatever --lr, --problem or --engines
    said, and a --batch-size without the minibatch method was dropped without a word
    (compare's even at its default value, which linreg refused)."""
    out_dir = [] if "--tutorial" in argv else ["--no-plots", "--out", str(tmp_path / "o")]
    code, out, err = run(capsys, *argv, *out_dir)
    assert code == ExitStatus.USAGE
    assert out == ""
    assert err == f"gradlab {argv[0]}: error: {said}\n{hint}\n"
    assert not (tmp_path / "o").exists()


def test_an_out_path_through_a_new_folder_and_back_leaves_no_folder(tmp_path: Path) -> None:
    """`new/../out` makes only out; new (never made) was listed, and out's real parent
    missed, by their names."""
    with run_lock(tmp_path / "new" / ".." / "out"):
        assert (tmp_path / "out").is_dir()
    assert list(tmp_path.iterdir()) == []
