"""A property-based fuzz of the command line: no input makes a traceback.

Each command's argv is built from its own argparse parser (so a flag added later is
fuzzed without a change here), with hostile values: 0, negatives, nan, infinities, 1e308,
subnormals, huge integers, empty and blank strings, unicode (and the surrogates that
stand for bytes of a file name that are not UTF-8), long strings, comma lists with empty
items or repeats, and paths that are a folder, /dev/null, missing, a file of garbage, a
link to itself... Every example runs :func:`gradlab.cli.main` in-process and holds it to
the promise for bad input: an exit status of :class:`~gradlab.errors.ExitStatus` (never an
exception), for a usage or data error (2) a line ``gradlab CMD: error: ...`` that names a
flag, value or file given, no traceback, under ``--json`` one JSON object on stdout (with
an ``"error"`` key when it failed), and bounded memory and disk.

Examples stay quick by construction: each command gets cheap settings the fuzzer leaves
alone unless it names the flag, and an example whose parsed arguments ask for real work
(many epochs, a wide network, TensorFlow) is discarded. What cannot be made quick is
stubbed where the checks of the arguments are over: the tour's chapters, the benchmark's
tables, the workers of ``train --nproc``, the tutorial of ``compare --tutorial``, and the
network (a download fails at once, as without one). Memory is capped (6 GiB of address
space beyond what the process holds), so an input that asks for more ends in a MemoryError
here, which the promise does not allow.

``GRADLAB_FUZZ_EXAMPLES=2000 pytest tests/test_cli_fuzz.py`` searches longer (the default
is sized for about half a minute).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import itertools
import json
import os
import re
import resource
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradlab.cli import COMMANDS, build_parser, main
from gradlab.errors import ExitStatus

# ------------------------------------------------------------------ the parsers


def command_parser(command: str) -> argparse.ArgumentParser:
    """The argparse parser of ``gradlab COMMAND``, as :func:`gradlab.cli.main` builds it."""
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]  # type: ignore[no-any-return]


def fuzzed_actions(command: str) -> list[argparse.Action]:
    """Every option and positional of ``command`` but --help."""
    return [a for a in command_parser(command)._actions if not isinstance(a, argparse._HelpAction)]


# ------------------------------------------------------------------ hostile values


@dataclass(frozen=True)
class Place:
    """A path that each example makes afresh in its own folder (see :func:`make_place`);
    ``content`` is what a file there holds (or what is written over a checkpoint)."""

    kind: str
    content: bytes = b""


#: Numbers as people (and typos) write them.
NUMBERS = (
    "0", "-0", "0.0", "1", "-1", "2", "3", "10", "0.5", "-0.5", "1e-3", "0.1", "0.999",
    "nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "1e308", "-1e308", "1e309",
    "1.8e308", "1e-320", "-1e-320", "5e-324", "1e-400", "2**10", "1_000", "0x10", "1e5",
    "-1e5", "1.", ".5", "1,5", "1e", "e1", "--1", "+1", "\u0661", "\uff11", "\u00bd", "1 ",
    " 1", "9" * 20, "-" + "9" * 20, "9" * 400, "1" * 4400, "1e" + "9" * 30, "1000000",
    "1000001", "2147483648", "9223372036854775808",
)  # fmt: skip
#: Words the parsers know (choices of some flag, somewhere), and some they do not.
WORDS = (
    "auto", "numpy", "torch", "tensorflow", "cpu", "cuda", "cuda:1", "mps", "float16",
    "float32", "float64", "sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop",
    "adagrad", "lbfgs", "batch", "minibatch", "constant", "step", "cosine", "warmup",
    "onecycle", "exponential", "softmax", "mlp", "digits", "mnist", "fashion-mnist",
    "synthetic", "quadratic", "line", "breast-cancer", "mse", "half_sse", "bce", "bce_sum",
    "rosenbrock", "beale", "himmelblau", "saddle", "ill-conditioned", "x**2", "SGD", "Adam",
    "None", "null", "true", "-", "-x", "-h", "=", "'", '"', "\\", "%s", "{}", "$HOME", "~",
    "localhost:0", "127.0.0.1:29500", ":", "host:", ":99999", "[::1]:1", "a:b:c",
)  # fmt: skip
#: The values at the edges of what a flag takes (or just past them).
EXTREMES = (
    "0", "-0", "1", "2", "0.5", "0.999", "1e-8", "5e-324", "1e-320", "1e308", "-1e308",
    "1.8e308", "1000000", "9223372036854775807", "nan", "inf", "-inf",
)  # fmt: skip
BLANKS = ("", " ", "\t", "\n", " \t ", "\u00a0", "\u200b", "\u3000")
#: Stands for a byte of a file name that is not UTF-8, as Python's argv carries it.
SURROGATE = "\udcff"

_no_nul = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
unicode_text = st.text(_no_nul, max_size=12) | st.sampled_from(
    ["\u00e9", "\u03c0", "\u221e", "\U0001f600", "\u202e1", "x\u0301", SURROGATE, "a" + SURROGATE]
)
long_text = st.integers(200, 5000).flatmap(
    lambda n: st.sampled_from(["a" * n, "9" * n, ("1," * n)[:-1], "x+" * n + "x", "-" * n])
)
number_text = (
    st.sampled_from(NUMBERS) | st.integers(-(10**30), 10**30).map(str) | st.floats().map(repr)
)
item = st.sampled_from(NUMBERS[:30]) | st.sampled_from(WORDS[:40]) | st.sampled_from(BLANKS)
comma_list = st.lists(item, min_size=1, max_size=14).map(",".join) | st.sampled_from(
    [",", ",,", "1,", ",1", "1,,2", "1, ,2", "0.1,0.1", "sgd,sgd", "numpy,numpy", "200,200,"]
)

#: File contents: CSV-like text with hostile cells, garbage, nothing.
csv_cell = st.sampled_from(NUMBERS) | st.sampled_from(BLANKS) | st.sampled_from(["x", "y", '"1"'])
csv_text = st.lists(
    st.lists(csv_cell, min_size=1, max_size=4).map(",".join), min_size=0, max_size=12
).map(lambda rows: "\n".join(rows))
#: Files that are not what a command reads, or only just.
ODD_FILES = (
    b"", b"\n", b"\xef\xbb\xbfx,y\n1,2\n3,4\n", b"1,2\n3,4\n", b"1,2\n" * 3 + b"1,2,3\n",
    b"\x00" * 64, b"\xff\xfe1,2\n", b"1\t2\n3\t4\n", b"1,2\r\n3,4\r\n", b"1e308,1e308\n" * 3,
    b"1,1\n1,1\n", b"a" * 10000,
)  # fmt: skip
file_content = st.one_of(
    csv_text.map(str.encode),
    st.binary(max_size=200),
    st.sampled_from(ODD_FILES),
)
#: What a folder of IDX files may hold: the names the loader looks for, with garbage in.
IDX_NAMES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)  # fmt: skip

PLACE_KINDS = (
    "missing", "new", "dir", "file", "inside-file", "loop", "dangling", "devnull",
    "devnull-child", "long-name", "deep", "unicode", "surrogate", "checkpoint",
    "damaged-checkpoint", "idx-dir", "out-with-checkpoint", "out-with-damaged-checkpoint",
)  # fmt: skip
place = st.builds(Place, st.sampled_from(PLACE_KINDS), file_content)

#: Any value a flag may be given.
hostile_value = st.one_of(
    number_text, st.sampled_from(WORDS), st.sampled_from(BLANKS), unicode_text, long_text,
    comma_list, place,
)  # fmt: skip

#: Formulas for ``gradlab descend``: some good, some hostile to SymPy or to float64.
FORMULAS = (
    "x**2", "x**2 + 3*y**2", "x^2", "-x**2", "x**3", "x", "abs(x)", "sqrt(x)", "log(x)",
    "1/x", "x**-1", "exp(x)", "exp(exp(x))", "exp(1000*x)", "x**1000", "x**1001",
    "9**9**9", "x**9**9", "(-8)**(1/3)*x", "sqrt(-1)*x", "x/0", "log(0)*x", "acos(x)",
    "asin(x)", "tan(x)", "x**0.5", "(-x)**0.5", "1e308*x**2", "1e-320*x", "0*x", "x-x",
    "y", "2", "sin(x)*cos(y)", "x**2*sin(x)", "((((x))))", "-(-(-(-x)))", "x" + "*x" * 200,
    "(" * 40 + "x" + ")" * 40, "sin(" * 35 + "x" + ")" * 35, "x**2 # comment", "x**2;",
    "__import__('os')", "x.real", "x[0]", "lambda: x", "x if x else y", "x**2\n", "\tx",
    "x\u00b2", "\u03c0*x", "x \u2212 1", "f(x)", "x**(1/0)", "10**400*x", "x*" + "9" * 1100,
    "exp(710)*x", "exp(709)*x", "sin(exp(exp(100)))*x", "(-1)**exp(exp(100))*x",
    "rosenbrock", "beale", "himmelblau", "saddle", "ill-conditioned", "Rosenbrock",
    " rosenbrock ", "rosenbrock,beale",
)  # fmt: skip


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value of ``good`` three times in four, else one of ``bad``."""
    return st.integers(0, 3).flatmap(lambda i: bad if i == 0 else good)


formula = mostly(st.sampled_from(FORMULAS), st.sampled_from(BLANKS) | unicode_text | long_text)


def option_spelling(flag: str) -> st.SearchStrategy[str]:
    """The flag as written: whole, or now and then cut to a prefix (argparse takes a
    unique one, and says which flags an ambiguous one could be)."""
    if len(flag) <= 4:
        return st.just(flag)
    return mostly(st.just(flag), st.integers(3, len(flag) - 1).map(lambda n: flag[:n]))


Token = str | Place


@st.composite
def option_tokens(draw: st.DrawFn, action: argparse.Action, values: Any) -> list[Token]:
    """One option of ``action`` with a value from ``values`` (none for a switch)."""
    flag = draw(option_spelling(draw(st.sampled_from(action.option_strings))))
    if action.nargs == 0:
        return [flag]
    value = draw(values)
    if isinstance(value, str) and draw(st.booleans()):
        return [f"{flag}={value}"]  # how a value that starts with a minus is given
    return [flag, value]


# ------------------------------------------------------------------ each command's plan


@dataclass(frozen=True)
class Plan:
    """How to fuzz one command.

    ``base`` are cheap settings, each given unless the fuzzer names its flag; ``cheap``
    says whether parsed arguments make a quick run (others are discarded); ``values``
    maps a flag to its own strategy, where the hostile values alone would seldom make a
    good one; ``positionals`` likewise for the positional arguments.
    """

    base: tuple[tuple[str, ...], ...] = ()
    cheap: Callable[[argparse.Namespace], bool] = lambda ns: True
    values: tuple[tuple[str, st.SearchStrategy[Any]], ...] = ()
    positionals: tuple[tuple[str, st.SearchStrategy[Any]], ...] = ()


def _weights(ns: argparse.Namespace, inputs: int = 784) -> int:
    """How many weights the MLP of ``ns`` has (with digits' 64 inputs, 784 at most)."""
    sizes = (inputs, *(getattr(ns, "hidden", None) or (200, 200)), 10)
    return sum(a * b for a, b in itertools.pairwise(sizes))


def _classifier_cheap(ns: argparse.Namespace) -> bool:
    """Digits, or the downloads (which fail at once here), or the generated images for
    softmax regression (60,000 of them: too many for the MLP); at most two epochs; a grid
    of at most 30 images when it is drawn."""
    if getattr(ns, "epochs", None) is not None and ns.epochs > 2:
        return False
    if not getattr(ns, "no_plots", True) and getattr(ns, "grid", 0) > 30:
        return False
    return ns.dataset != "synthetic" or ns.model == "softmax"


#: The classifiers' positional argument: a model, or one time in four anything.
models = mostly(st.sampled_from(["softmax", "mlp"]), hostile_value)

PLANS: dict[str, Plan] = {
    "descend": Plan(
        base=(("--steps", "30"), ("--no-plots",)),
        cheap=lambda ns: (ns.steps or 1000) * max(len(ns.lr or [1]), len(ns.optimizer)) <= 600,
        values=(
            ("--x0", comma_list | number_text | st.just("1e308,1e308")),
            ("--lr", comma_list | number_text),
            ("--optimizer", comma_list | st.sampled_from(WORDS)),
            ("--steps", st.integers(-3, 40).map(str) | number_text),
        ),
        positionals=(("function", formula),),
    ),
    "linreg": Plan(
        base=(("--iters", "20"), ("--no-plots",)),
        cheap=lambda ns: (ns.epochs or 1000) <= 50 and (ns.n or 100) <= 300,
        values=(
            ("--iters", st.integers(-3, 40).map(str) | number_text),
            ("--epochs", st.integers(-3, 40).map(str) | number_text),
            ("--n", st.integers(-3, 300).map(str) | number_text),
            ("--csv", place),
        ),
    ),
    "compare": Plan(
        base=(("--engines", "numpy"), ("--epochs", "20"), ("--no-plots",), ("--quiet",)),
        cheap=lambda ns: (
            ns.engines is not None and "tensorflow" not in ns.engines and (ns.epochs or 1000) <= 50
        ),
        values=(("--epochs", st.integers(-3, 40).map(str) | number_text),),
    ),
    "train": Plan(
        base=(("--epochs", "1"), ("--no-plots",), ("--quiet",), ("--out", "out")),
        cheap=lambda ns: _classifier_cheap(ns) and _weights(ns) <= 200_000,
        values=(
            ("--epochs", st.integers(-2, 3).map(str) | number_text),
            ("--hidden", comma_list | st.sampled_from(["", "1", "16,16", "100000,100000"])),
            ("--nproc", st.integers(-1, 3).map(str) | number_text),
            ("--nnodes", st.integers(-1, 3).map(str) | number_text),
        ),
        positionals=(("model", models),),
    ),
    "lr-find": Plan(
        base=(("--steps", "20"), ("--no-plots",), ("--quiet",), ("--out", "out")),
        cheap=lambda ns: ns.steps <= 100 and _classifier_cheap(ns) and _weights(ns) <= 200_000,
        values=(
            ("--steps", st.integers(-2, 120).map(str) | number_text),
            ("--hidden", comma_list | st.sampled_from(["", "1", "16,16", "100000,100000"])),
        ),
        positionals=(("model", models),),
    ),
    "predict": Plan(
        base=(("--checkpoint", Place("checkpoint")), ("--out", "out")),
        cheap=lambda ns: ns.n <= 30,
        values=(
            ("--checkpoint", place),
            ("--n", st.integers(-2, 30).map(str) | number_text),
        ),
    ),
    "tour": Plan(),
    "bench": Plan(base=(("--quick",), ("--quiet",))),
    "env": Plan(),
    "": Plan(),  # no command, or a misspelt one
}


def _parses(action: argparse.Action, text: Any) -> bool:
    """Whether the parser takes ``text`` as the value of ``action``."""
    if not isinstance(text, str):
        return True  # a path
    try:
        value = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return False
    return action.choices is None or value in action.choices


def accepted_values(action: argparse.Action) -> st.SearchStrategy[Any]:
    """Values the parser takes for ``action``, the extreme ones among them (1e308, 5e-324,
    a path to garbage): the hostile values that get past argparse to the code behind."""
    if action.choices is not None:
        return st.sampled_from(list(action.choices))
    if getattr(action.type, "__name__", "") == "path_arg":
        return place
    extremes = st.sampled_from(EXTREMES)
    candidates = st.one_of(
        extremes, st.lists(extremes, min_size=1, max_size=4).map(",".join), number_text,
        comma_list, st.sampled_from(WORDS), unicode_text,
    )  # fmt: skip
    return candidates.filter(lambda v: _parses(action, v))


@st.composite
def command_argv(
    draw: st.DrawFn, command: str, plots: bool = False, json: bool = False
) -> list[Token]:
    """``[COMMAND, ...]``: some of the command's options and positionals, each value one the
    parser accepts or (one time in three) any hostile one, then the plan's cheap settings
    for the flags the fuzzer left alone; ``--json`` with ``json``, else now and then."""
    plan = PLANS[command]
    own = dict(plan.values)
    positionals = dict(plan.positionals)
    actions = fuzzed_actions(command)
    options = [a for a in actions if a.option_strings]
    chosen = draw(st.lists(st.sampled_from(options), max_size=5, unique_by=id))
    groups: list[list[Token]] = []
    for action in chosen:
        mine = [own[f] for f in action.option_strings if f in own]
        if draw(st.integers(0, 2)) == 0:
            values = hostile_value
        elif mine:
            values = mine[0].filter(lambda v, a=action: _parses(a, v)) | accepted_values(action)
        else:
            values = accepted_values(action)
        groups.append(draw(option_tokens(action, values)))
    for action in actions:
        if not action.option_strings and draw(st.integers(0, 9)):  # now and then left out
            values = positionals.get(action.dest, hostile_value)
            groups.insert(draw(st.integers(0, len(groups))), [draw(values)])
    argv: list[Token] = [command, *(token for group in groups for token in group)]
    named = {a.option_strings[0] for a in chosen}
    for setting in plan.base:
        flag = setting[0]
        if flag == "--no-plots" and plots:
            continue
        action = next(a for a in options if flag in a.option_strings)
        if action.option_strings[0] not in named:
            argv += list(setting)
    if json or draw(st.integers(0, 3)) == 0:
        argv.append("--json")
    return argv


# ------------------------------------------------------------------ one example's world


#: The memory (address space) an example may take on top of what the process holds: an
#: input that asks for more gets a MemoryError here rather than the machine's memory.
MORE_MEMORY = 6 * 2**30


def _address_space() -> int:
    """The bytes of address space this process holds now (0 where /proc cannot say)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder for the examples, a trained checkpoint in it, no network, no home cache,
    and a cap on memory: an input that asks for gigabytes fails here, not the machine."""
    root = tmp_path_factory.mktemp("fuzz")
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADLAB_DATA", str(root / "cache"))
    mp.setenv("MPLBACKEND", "Agg")

    def offline(self: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        raise urllib.error.URLError("the fuzz runs offline")

    mp.setattr(urllib.request.OpenerDirector, "open", offline)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    held = _address_space()  # with what the engines imported so far reserve
    if held and (soft == resource.RLIM_INFINITY or soft > held + MORE_MEMORY):
        resource.setrlimit(resource.RLIMIT_AS, (held + MORE_MEMORY, hard))
    try:
        with _streams():
            code = main(["train", "softmax", "--epochs", "1", "--no-plots", "--quiet",
                         "--out", str(root / "trained")])  # fmt: skip
        assert code == 0
        yield root
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        mp.undo()


class Reached(BaseException):
    """Raised by a stub where the work begins: the arguments were all accepted."""


def _reached(*args: Any, **kwargs: Any) -> Any:
    raise Reached


@contextlib.contextmanager
def _stubs(command: str) -> Iterator[None]:
    """Stand-ins for the work that no example can wait for (see the module's docstring)."""
    mp = pytest.MonkeyPatch()
    try:
        if command == "tour":
            mp.setattr("gradlab.tour.run_tour", _reached)
        if command == "bench":
            import gradlab.bench.run as bench_run

            real = bench_run.image_data

            def image_data(plan: Any, data_dir: Any, dataset: str) -> Any:
                if data_dir is None:
                    raise Reached
                return real(plan, data_dir, dataset)  # refuses a bad --data-dir

            mp.setattr(bench_run, "image_data", image_data)
            mp.setattr("gradlab.bench.floors.measure_sized", _reached)
        if command == "train":
            mp.setattr("gradlab.distributed.launch.run", _reached)
        if command == "compare":
            mp.setattr("gradlab.jobs.compare.tutorial", _reached)
        yield
    finally:
        mp.undo()


@dataclass
class Written:
    """What a run wrote on stdout and stderr (filled in when it ends)."""

    out: str = ""
    err: str = ""


@contextlib.contextmanager
def _streams() -> Iterator[Written]:
    """stdout and stderr as a terminal's under a UTF-8 locale: stdout refuses what UTF-8
    cannot encode (a surrogate), stderr writes it as a backslash escape."""
    written = Written()
    out, err = io.BytesIO(), io.BytesIO()
    text_out = io.TextIOWrapper(out, encoding="utf-8", errors="strict", write_through=True)
    text_err = io.TextIOWrapper(
        err, encoding="utf-8", errors="backslashreplace", write_through=True
    )
    try:
        with contextlib.redirect_stdout(text_out), contextlib.redirect_stderr(text_err):
            yield written
    finally:
        written.out = out.getvalue().decode("utf-8", "surrogateescape")
        written.err = err.getvalue().decode("utf-8")
        text_out.detach()
        text_err.detach()


def make_place(p: Place, folder: Path, checkpoint: Path) -> str:
    """Make the path ``p`` stands for in ``folder``; return it as argv carries it."""
    if p.kind == "missing":
        return str(folder / "missing" / "nothing")
    if p.kind == "new":
        return str(folder / "new")
    if p.kind == "dir":
        (folder / "adir").mkdir(exist_ok=True)
        return str(folder / "adir")
    if p.kind in ("file", "inside-file"):
        (folder / "file").write_bytes(p.content)
        return str(folder / "file" / ("x" if p.kind == "inside-file" else ""))
    if p.kind in ("loop", "dangling"):
        link = folder / p.kind
        with contextlib.suppress(FileExistsError):
            link.symlink_to(link if p.kind == "loop" else folder / "nowhere")
        return str(link)
    if p.kind == "devnull":
        return os.devnull
    if p.kind == "devnull-child":
        return os.devnull + "/x"
    if p.kind == "long-name":
        return str(folder / ("n" * 300))
    if p.kind == "deep":
        return str(folder / "/".join(["d" * 200] * 25))
    if p.kind == "unicode":
        return str(folder / "donn\u00e9es \u2713" / "new")
    if p.kind == "surrogate":
        return str(folder / f"bad{SURROGATE}name")
    if p.kind == "checkpoint":
        shutil.copy(checkpoint, folder / "model.safetensors")
        return str(folder / "model.safetensors")
    if p.kind == "damaged-checkpoint":
        return str(_damaged(checkpoint, folder / "damaged.safetensors", p.content))
    if p.kind == "idx-dir":
        idx = folder / "idx"
        idx.mkdir(exist_ok=True)
        zipped = p.content[:1] > b"\x7f"  # now and then, garbage in good gzip
        for name in IDX_NAMES:
            if zipped:
                (idx / f"{name}.gz").write_bytes(gzip.compress(p.content))
            else:
                (idx / name).write_bytes(p.content)
        return str(idx)
    if p.kind in ("out-with-checkpoint", "out-with-damaged-checkpoint"):
        out = folder / "resumable"
        out.mkdir(exist_ok=True)
        if p.kind == "out-with-checkpoint":
            shutil.copy(checkpoint, out / "model.safetensors")
        else:
            _damaged(checkpoint, out / "model.safetensors", p.content)
        return str(out)
    raise AssertionError(p.kind)


def _damaged(checkpoint: Path, target: Path, noise: bytes) -> Path:
    """A copy of ``checkpoint`` with ``noise`` written over part of it, or cut short."""
    data = bytearray(checkpoint.read_bytes())
    if not noise:
        data = data[: len(data) // 2]
    else:
        at = noise[0] * len(data) // 256
        data[at : at + len(noise)] = noise
    target.write_bytes(bytes(data))
    return target


# ------------------------------------------------------------------ the promise


@dataclass
class Outcome:
    """One run: the argv as given, the exit status, what it wrote."""

    argv: list[str]
    code: Any
    out: str
    err: str
    reached: bool = False  # a stub was reached: the arguments were all accepted
    helped: bool = False  # --help or --version


#: Exit statuses bad input may end in (a download fails: the fuzz is offline). Not among
#: them: RESOURCE, which here would mean that an input asked for more memory than the cap.
ALLOWED = {ExitStatus.OK, ExitStatus.USAGE, ExitStatus.DIVERGED, ExitStatus.DOWNLOAD}
#: The most bytes one example may leave on disk.
MOST_BYTES = 32 * 2**20


def run_cli(command: str, tokens: Sequence[Token], folder: Path, checkpoint: Path) -> Outcome:
    """Run ``gradlab`` with ``tokens`` in ``folder`` (its working directory)."""
    argv = [make_place(t, folder, checkpoint) if isinstance(t, Place) else t for t in tokens]
    cwd = os.getcwd()
    os.chdir(folder)
    reached = helped = False
    try:
        with _stubs(command), _streams() as written:
            try:
                code: Any = main(argv)
            except Reached:
                code, reached = ExitStatus.OK, True
            except SystemExit as exc:  # --help and --version, only
                assert any(_asks_for_help(a) for a in argv), argv
                code, helped = exc.code, True
    finally:
        os.chdir(cwd)
    return Outcome(argv, code, written.out, written.err, reached, helped)


def _asks_for_help(token: str) -> bool:
    """Whether argparse reads ``token`` as -h, --help or --version (a prefix will do)."""
    return token.startswith("-h") or any(
        len(token) >= 3 and full.startswith(token.split("=")[0]) for full in ("--help", "--version")
    )


def check_promise(command: str, o: Outcome) -> None:
    """The command line's promise for any input (see the module's docstring)."""
    assert isinstance(o.code, int), o
    assert o.code in ALLOWED, o
    assert "Traceback" not in o.err, o
    assert "Traceback" not in o.out, o
    who = "gradlab" if command == "" else f"gradlab {command}"
    wants_json = "--json" in o.argv
    if command == "" and o.code == ExitStatus.USAGE and o.err.startswith("usage: gradlab "):
        pass  # no command: the usage, and the list of commands
    elif o.code == ExitStatus.USAGE:
        assert re.search(rf"^({re.escape(who)}|gradlab): error: .", o.err, re.M), o
        assert names_something(o.err, o.argv) or names_a_missing_package(o.err), o
    if wants_json and not (o.reached or o.helped):
        result = json.loads(o.out)  # one JSON object, nothing else on stdout
        assert isinstance(result, dict), o
        if o.code != ExitStatus.OK:
            assert set(result["error"]) >= {"kind", "message", "exit_status"}, o
            assert result["error"]["exit_status"] == o.code, o


def names_something(err: str, argv: Sequence[str]) -> bool:
    """Whether the message names a flag, value or file of ``argv`` (or a positional's name)."""
    said = err.replace("\\udcff", SURROGATE)  # stderr's escape of a surrogate
    names = {"function", "EXPR|NAME", "model", "COMMAND"}
    for token in argv[1:]:
        flag, _, value = token.partition("=") if token.startswith("--") else ("", "", token)
        names.update({flag.strip()} if flag else set())
        if value.strip():
            names.update({value.strip()[:40], repr(value)[:40]})
    return any(name and name in said for name in names)


def names_a_missing_package(err: str) -> bool:
    """Whether the message is that of an optional package this input needs and this
    install lacks (on a core install: ``bench`` without PyTorch), which names the package
    and the command that installs it rather than anything in argv."""
    return " is not installed" in err and "pip install" in err


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under ``folder`` (links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def fuzz_one(command: str, tokens: list[Token], world: Path) -> Outcome:
    """One example: discard it if it would be slow, else run it and check the promise."""
    parsed = _parse_quietly(command, tokens)
    if parsed is not None:
        assume(PLANS[command].cheap(parsed))
    with tempfile.TemporaryDirectory(dir=world) as name:
        folder = Path(name)
        outcome = run_cli(command, tokens, folder, world / "trained" / "model.safetensors")
        check_promise(command, outcome)
        assert folder_bytes(folder) <= MOST_BYTES, outcome
    return outcome


def _parse_quietly(command: str, tokens: Sequence[Token]) -> argparse.Namespace | None:
    """The arguments as the command's parser reads them; None where it refuses them."""
    argv = [f"/{t.kind}" if isinstance(t, Place) else t for t in tokens]
    parser = build_parser(command)
    with contextlib.suppress(Exception, SystemExit), _streams():
        return parser.parse_args(argv)
    return None


# ------------------------------------------------------------------ the properties

FUZZ = settings(
    max_examples=int(os.environ.get("GRADLAB_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("command", list(COMMANDS))
@FUZZ
@given(data=st.data())
def test_no_input_makes_a_traceback(command: str, world: Path, data: st.DataObject) -> None:
    """Any argv of the command keeps the promise (see :func:`check_promise`)."""
    tokens = data.draw(command_argv(command), label="argv")
    fuzz_one(command, tokens, world)


@pytest.mark.parametrize("command", list(COMMANDS))
@settings(FUZZ, max_examples=max(1, FUZZ.max_examples // 2))
@given(data=st.data())
def test_under_json_a_failure_is_one_error_object(
    command: str, world: Path, data: st.DataObject
) -> None:
    """As above, always with ``--json``: stdout holds one JSON object, with an ``"error"``
    object (kind, message, exit status) whenever the exit status is not 0."""
    tokens = data.draw(command_argv(command, json=True), label="argv")
    fuzz_one(command, tokens, world)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["descend", "linreg", "compare", "train", "lr-find"])
@settings(FUZZ, max_examples=max(1, FUZZ.max_examples // 5))
@given(data=st.data())
def test_no_input_makes_a_traceback_with_plots(
    command: str, world: Path, data: st.DataObject
) -> None:
    """As above, the pictures drawn (titles and labels carry the values given)."""
    tokens = data.draw(command_argv(command, plots=True), label="argv")
    fuzz_one(command, tokens, world)


@FUZZ
@given(
    argv=st.lists(
        st.sampled_from(["--version", "--json", "-x", "--", "Descend", "lr_find"])
        | hostile_value.filter(lambda v: isinstance(v, str)),
        max_size=4,
    )
)
def test_no_command_line_makes_a_traceback(argv: list[str], world: Path) -> None:
    """Without a command, or with one misspelt: the usage, exit 2."""
    assume(not argv or argv[0] not in COMMANDS)
    assume(not any(a in COMMANDS for a in argv))
    fuzz_one("", argv, world)
