"""Argument types and options shared by the commands."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gradlab.errors import DataError, UsageError
from gradlab.io import _jsonable, finite_json
from gradlab.optim.spec import APPLIES, EXPONENTIAL_FALL, WARMUP_START, ScheduleSpec
from gradlab.params import MAX_EPOCHS, MAX_GRID, MAX_POINTS

if TYPE_CHECKING:
    pass


def _float(text: str, *, positive: bool) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v) or (positive and v <= 0):
        what = "a finite number > 0" if positive else "a finite number"
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return v


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    return _float(text, positive=True)


def finite_float(text: str) -> float:
    """An argparse type: a finite number."""
    return _float(text, positive=False)


#: The largest whole number a flag takes where it sets no upper limit of its own: what a
#: 64-bit integer holds (NumPy's and PyTorch's seeds, counts and sizes are such integers).
MAX_INT = 2**63 - 1


def _int(text: str, *, minimum: int, maximum: int = MAX_INT) -> int:
    try:
        v = int(text)
    except ValueError:
        if not text.strip().lstrip("+-").replace("_", "").isdecimal():
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        # a whole number of more digits than int() converts (4,300): out of range either way
        v = minimum - 1 if text.strip().startswith("-") else maximum + 1
    if v < minimum:
        limit = "at least 1" if minimum == 1 else f"{minimum} or more"
        raise argparse.ArgumentTypeError(f"must be {limit}, got {text!r}")
    if v > maximum:
        raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {text!r}")
    return v


def refuse_batch_size_without_minibatch(methods: list[str], flag: str) -> None:
    """Refuse a ``--batch-size`` given to a run whose descent methods (``flag``: the
    option that chose them) do not include minibatch, the one method that uses it."""
    if "minibatch" not in methods:
        add = "minibatch to --methods" if flag == "--methods" else f"{flag} minibatch"
        raise UsageError(
            f"--batch-size is the minibatch method's; {flag} {','.join(methods)} does not use it.",
            hint=f"Add {add}, or leave --batch-size out.",
        )


def int_from_to(minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse type: an integer from ``minimum`` to ``maximum``."""

    def parse(text: str) -> int:
        return _int(text, minimum=minimum, maximum=maximum)

    return parse


def int_from_1_to(maximum: int) -> Callable[[str], int]:
    """An argparse type: an integer from 1 to ``maximum``."""

    def parse(text: str) -> int:
        return _int(text, minimum=1, maximum=maximum)

    return parse


#: A user's error that :func:`with_flags` rewords, keeping its kind.
Reworded = TypeVar("Reworded", bound=UsageError | DataError)


def with_flags(exc: Reworded, where: str, names: Sequence[str] | Mapping[str, str]) -> Reworded:
    """``exc`` reworded for the command line: a function's parameters (``lr_range_test:
    min_lr``) become the flags that set them (``--min-lr``), in its message and hint.
    ``names`` lists parameters named like their flags, or maps each to its flag
    (``{"random_state": "--seed"}``)."""
    flags = (
        dict(names)
        if isinstance(names, Mapping)
        else {name: "--" + name.replace("_", "-") for name in names}
    )

    def reworded(text: str) -> str:
        text = text.replace(" or None; got", ", or left out; got")  # None: the flag not given
        for name, flag in flags.items():
            end = r"(?!\w)" if re.match(r"\w", name[-1]) else ""  # "lr=" may meet a digit
            text = re.sub(rf"(?<![-\w]){re.escape(name)}{end}", flag, text)
        return text

    hint = None if exc.hint is None else reworded(exc.hint)
    return type(exc)(reworded(exc.message.removeprefix(f"{where}: ")), hint=hint)


def learning_rate(text: str) -> float | str:
    """An argparse type: ``auto`` or a finite number > 0."""
    return "auto" if text.strip().lower() == "auto" else positive_float(text)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _int(text, minimum=1)


def point_count(text: str) -> int:
    """An argparse type: a number of points to generate, at least 2 (a line needs two)."""
    return _int(text, minimum=2, maximum=MAX_POINTS)


def epoch_count(text: str) -> int:
    """An argparse type: a number of passes over the data (or of steps), 1 to
    :data:`~gradlab.params.MAX_EPOCHS`."""
    return _int(text, minimum=1, maximum=MAX_EPOCHS)


def grid_size(text: str) -> int:
    """An argparse type: images in a prediction grid, 0 (none) to
    :data:`~gradlab.params.MAX_GRID`."""
    return _int(text, minimum=0, maximum=MAX_GRID)


def comma_items(text: str) -> list[str]:
    """The comma-separated items of ``text``, stripped; none for a blank ``text``.

    An empty item (``"1,,2"``, a trailing comma, a lone ``","``) is refused rather than
    dropped, so that what runs is what was typed.
    """
    if not text.strip():
        return []
    parts = [p.strip() for p in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(
            f"an empty item in {text!r}; separate the items by single commas"
        )
    return parts


def float_list(text: str) -> list[float]:
    """An argparse type: comma-separated finite numbers, e.g. ``0.001,0.01,0.1``."""
    parts = comma_items(text)
    if not parts:
        raise argparse.ArgumentTypeError("expected one or more numbers separated by commas")
    return [finite_float(p) for p in parts]


def positive_float_list(text: str) -> list[float]:
    """An argparse type: comma-separated numbers, each finite and > 0."""
    parts = comma_items(text)
    if not parts:
        raise argparse.ArgumentTypeError("expected one or more numbers separated by commas")
    return [positive_float(p) for p in parts]


#: The most learning rates one run compares (a panel each in its picture).
MAX_RATES = 12


def rate_list(text: str) -> list[float]:
    """An argparse type: comma-separated learning rates, each finite and > 0, at most
    :data:`MAX_RATES` of them and none twice."""
    rates = positive_float_list(text)
    if len(rates) > MAX_RATES:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_RATES} rates, got {len(rates)} (each one a run and a panel)"
        )
    repeated = sorted({r for r in rates if rates.count(r) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(
            f"rate {', '.join(f'{r:g}' for r in repeated)} is given twice"
        )
    return rates


def path_arg(text: str) -> Path:
    """An argparse type: a path, not empty (``Path("")`` would be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a file or folder name")
    return Path(text)


def add_out(parser: argparse.ArgumentParser, default: str, what: str = "plots and files") -> None:
    """``--out DIR``: where a command writes its files."""
    parser.add_argument(
        "--out",
        type=path_arg,
        default=Path(default),
        metavar="DIR",
        help=f"folder for {what} (default: {default})",
    )


def add_output_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    """``--out``, ``--no-plots`` and ``--json``."""
    add_out(parser, default_out)
    parser.add_argument("--no-plots", action="store_true", help="write no plot files")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on stdout instead of the text summary",
    )


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0 (what NumPy accepts as a seed)."""
    return _int(text, minimum=0)


def add_quiet(parser: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress lines on stderr (results and errors still print)."""
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    parser.add_argument(
        "--seed", type=non_negative_int, default=default, help=f"random seed (default: {default})"
    )


def print_json(obj: Any) -> None:
    """Print ``obj`` as strict JSON on stdout (NaN and infinities become null)."""
    json.dump(finite_json(obj), sys.stdout, indent=2, default=_jsonable, allow_nan=False)
    sys.stdout.write("\n")


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """``--dataset``, ``--data-dir``, ``--cache-dir``: an image data set (train, predict)."""
    from gradlab.data.images import IMAGE_DATASETS

    p.add_argument(
        "--dataset",
        choices=IMAGE_DATASETS,
        default="digits",
        help="digits: scikit-learn's 8x8 digits, built in (default); mnist, fashion-mnist: "
        "downloaded once into the cache, or read from --data-dir; synthetic: generated "
        "28x28 images of the real shape",
    )
    p.add_argument(
        "--data-dir",
        type=path_arg,
        metavar="DIR",
        help="a folder with the four IDX files (raw or .gz, flat or <Name>/raw/)",
    )
    p.add_argument(
        "--cache-dir",
        type=path_arg,
        metavar="DIR",
        help="where downloads are kept (default: $GRADLAB_DATA or ~/.cache/gradlab)",
    )


# ------------------------------------------------------------------ update rules and schedules
#
# One set of flags for every command that descends (descend, linreg, compare, and later the
# classifiers' train): --optimizer NAME[,NAME...] picks rules from gradlab.optim.RULES, and
# --schedule with its few options builds a gradlab.optim.schedules.Schedule for a run once its
# rate and length are known (schedule_from_args returns a ScheduleSpec, a function
# (lr, steps) -> Schedule, which a model or minimize calls at the start of the run).


def optimizer_name(text: str) -> str:
    """An argparse type: one update rule's name (``sgd``, ``momentum``, ``adam``, ...)."""
    from gradlab.optim.rules import RULES

    name = text.strip().lower()
    if name not in RULES:
        raise argparse.ArgumentTypeError(
            f"unknown optimizer {text!r}; choose from: {', '.join(RULES)}"
        )
    return name


def optimizer_list(text: str) -> list[str]:
    """An argparse type: comma-separated rule names, e.g. ``sgd,momentum,adam``."""
    parts = comma_items(text)
    if not parts:
        raise argparse.ArgumentTypeError("expected one or more optimizers separated by commas")
    names = [optimizer_name(p) for p in parts]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"optimizer {', '.join(repeated)} is given twice")
    return names


def add_optimizer_option(
    parser: argparse.ArgumentParser, *, several: bool = False, default: str = "sgd"
) -> None:
    """``--optimizer NAME`` (or ``NAME[,NAME...]`` with ``several``): the update rule(s)."""
    from gradlab.optim.rules import RULES

    what = "update rule(s) to compare" if several else "update rule"
    parser.add_argument(
        "--optimizer",
        type=optimizer_list if several else optimizer_name,
        default=[default] if several else default,
        metavar="NAME[,NAME...]" if several else "NAME",
        help=f"{what}: {', '.join(RULES)} (momentum and nesterov: SGD with momentum 0.9; "
        f"the others with PyTorch's defaults but the rate) (default: {default})",
    )


def _fraction(text: str) -> float:
    v = _float(text, positive=True)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}")
    return v


def _non_negative_float(text: str) -> float:
    v = _float(text, positive=False)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return v


def add_schedule_options(parser: argparse.ArgumentParser, unit: str = "step") -> None:
    """``--schedule`` and its options: how the learning rate changes over the run.

    ``unit`` names what the schedule counts (optimizer steps everywhere so far), for the help.
    """
    from gradlab.optim.schedules import SCHEDULES

    g = parser.add_argument_group(
        "learning-rate schedule",
        f"the rate of each {unit}; --lr is the starting rate (the peak for onecycle)",
    )
    g.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="constant",
        help="constant; step: times --gamma every --step-size; exponential: times --gamma "
        f"every {unit}; cosine: half a cosine down to --min-lr; warmup: from "
        f"{WARMUP_START:g} of the rate up to it over --warmup-steps, then constant; onecycle: "
        "up to the rate over --pct-start of the run, then down to nearly 0 "
        "(default: constant)",
    )
    g.add_argument(
        "--gamma",
        type=positive_float,
        help="decay factor of step (default 0.1) and exponential (default: the rate falls "
        f"{1 / EXPONENTIAL_FALL:g}-fold over the run)",
    )
    g.add_argument(
        "--step-size",
        type=positive_int,
        metavar="N",
        help=f"{unit}s between the step schedule's decays (default: a third of the run)",
    )
    g.add_argument(
        "--warmup-steps",
        type=positive_int,
        metavar="N",
        help=f"{unit}s of linear warm-up, before any schedule but onecycle (default for "
        "warmup: a tenth of the run)",
    )
    g.add_argument(
        "--min-lr",
        type=_non_negative_float,
        metavar="LR",
        help="the rate cosine ends at (default: 0)",
    )
    g.add_argument(
        "--pct-start",
        type=_fraction,
        metavar="F",
        help="fraction of the run onecycle spends rising (default: 0.3)",
    )


def schedule_from_args(args: argparse.Namespace) -> ScheduleSpec | None:
    """The schedule the flags ask for; None for a constant rate without warm-up.

    Raises
    ------
    UsageError
        An option given for a schedule it does not apply to (``--gamma`` with
        ``--schedule cosine``, say); the message names both.
    """
    name = getattr(args, "schedule", "constant")
    given = {k: getattr(args, k, None) for k in APPLIES}
    if name == "constant" and given["warmup_steps"] is None:
        ScheduleSpec(name, flags=True, **given).check()  # --gamma alone is still refused
        return None
    spec = ScheduleSpec(name, flags=True, **given)
    spec.check()
    return spec
