"""Argument types and options shared by the commands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from gradlab.io import _jsonable


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


def _int(text: str, *, minimum: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < minimum:
        limit = "at least 1" if minimum == 1 else f"{minimum} or more"
        raise argparse.ArgumentTypeError(f"must be {limit}, got {text!r}")
    return v


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _int(text, minimum=1)


def float_list(text: str) -> list[float]:
    """An argparse type: comma-separated finite numbers, e.g. ``0.001,0.01,0.1``."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("expected one or more numbers separated by commas")
    return [finite_float(p) for p in parts]


def positive_float_list(text: str) -> list[float]:
    """An argparse type: comma-separated numbers, each finite and > 0."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("expected one or more numbers separated by commas")
    return [positive_float(p) for p in parts]


def add_out(parser: argparse.ArgumentParser, default: str, what: str = "plots and files") -> None:
    """``--out DIR``: where a command writes its files."""
    parser.add_argument(
        "--out",
        type=Path,
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


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    parser.add_argument(
        "--seed", type=non_negative_int, default=default, help=f"random seed (default: {default})"
    )


def print_json(obj: Any) -> None:
    """Print ``obj`` as strict JSON on stdout (NaN and infinities become null)."""
    json.dump(finite_json(obj), sys.stdout, indent=2, default=_jsonable, allow_nan=False)
    sys.stdout.write("\n")


def finite_json(obj: Any) -> Any:
    """``obj`` with NumPy values as plain ones and every non-finite float as None
    (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_json(v) for v in obj]
    tolist = getattr(obj, "tolist", None)
    return finite_json(tolist()) if callable(tolist) else obj


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
        type=Path,
        metavar="DIR",
        help="a folder with the four IDX files (raw or .gz, flat or <Name>/raw/)",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="where downloads are kept (default: $GRADLAB_DATA or ~/.cache/gradlab)",
    )
