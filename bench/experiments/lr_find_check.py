"""Experiment: do the range test's suggestions train well on the real data sets?

For each data set given, softmax regression and the MLP 784-200-200-10, with plain SGD
and with Adam: run the learning-rate range test (``gradlab.jobs.lr_find``, its
defaults), then train 10 epochs from the suggested rate and report the suggestion, the
readings it came from, and what training reached. Run from the repository root::

    .venv/bin/python -m bench.experiments.lr_find_check --mnist DIR --fashion DIR
        [--seeds 0 1] [--epochs 10] [--json]

(``--fashion-npm DIR`` builds the Fashion-MNIST files from the npm package first, as
``gradlab.bench.real_data`` does.) Not part of the benchmark: it backs the lr-find numbers
quoted in docs/optimizers.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if __package__ in (None, "") and str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gradlab.data.images import load_images  # noqa: E402
from gradlab.errors import DivergenceError  # noqa: E402
from gradlab.jobs.lr_find import lr_range_test  # noqa: E402
from gradlab.models._network import PlainClassifier  # noqa: E402

#: (model, optimizer, extra hyperparameters): plain SGD means no momentum.
CASES = (
    ("softmax", "sgd", {"momentum": 0.0}),
    ("softmax", "adam", {}),
    ("mlp", "sgd", {"momentum": 0.0}),
    ("mlp", "adam", {}),
)


def check(data: Any, model: str, optimizer: str, extra: dict[str, Any], seed: int,
          epochs: int, reading: str = "suggestion") -> dict[str, Any]:  # fmt: skip
    """Range test, then 10 epochs from the suggestion (or another ``reading`` of the
    curve: ``steepest``, ``tenth`` of the minimum); one row of the table."""
    hp = {"optimizer": optimizer, "random_state": seed, **extra}
    test = lr_range_test(PlainClassifier(model, **hp), data.X_train, data.y_train)
    row: dict[str, Any] = {
        "dataset": data.name, "model": model, "optimizer": optimizer, "seed": seed,
        "suggestion": test.suggestion, "steepest": test.steepest, "minimum": test.minimum,
        "reason": test.reason.split(":")[0], "test_seconds": test.seconds, "reading": reading,
    }  # fmt: skip
    rate = {"suggestion": test.suggestion, "tenth": test.minimum / 10}.get(reading)
    rate = test.steepest if rate is None else rate
    if rate is None:
        row.update(diverged=False, skipped=True)
        return row
    clf = PlainClassifier(model, lr=float(f"{rate:.2g}"), epochs=epochs, **hp)
    start = time.perf_counter()
    try:
        clf.fit(data.X_train, data.y_train, eval_set=(data.X_test, data.y_test))
    except DivergenceError as exc:
        row.update(diverged=True, error=exc.message)
        return row
    last = clf.history_.last()
    row.update(
        diverged=False,
        lr=clf.lr_,
        train_loss=last["train_loss"],
        test_accuracy=last["test_accuracy"],
        best_test_accuracy=max(clf.history_["test_accuracy"]),
        seconds=time.perf_counter() - start,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist", metavar="DIR")
    p.add_argument("--fashion", metavar="DIR")
    p.add_argument("--fashion-npm", metavar="DIR")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument(
        "--readings",
        default="suggestion",
        help="comma-separated: which rates to train from: suggestion, steepest, tenth "
        "(a tenth of the minimum's rate)",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.fashion_npm:
        from gradlab.bench.real_data import fashion_from_npm

        args.fashion = args.fashion or str(REPO / "runs" / "fashion-npm")
        fashion_from_npm(args.fashion_npm, args.fashion)
    sets = [(n, d) for n, d in (("mnist", args.mnist), ("fashion-mnist", args.fashion)) if d]
    if not sets:
        p.error("give --mnist DIR and/or --fashion DIR (or --fashion-npm DIR)")
    rows = []
    for name, folder in sets:
        data = load_images(name, data_dir=folder, download=False)
        for seed in args.seeds:
            for model, optimizer, extra in CASES:
                for reading in args.readings.split(","):
                    row = check(data, model, optimizer, extra, seed, args.epochs, reading)
                    rows.append(row)
                    if not args.json:
                        print(_line(row), flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 1 if any(r["diverged"] for r in rows) else 0


def _line(r: dict[str, Any]) -> str:
    head = (
        f"{r['dataset']:13} {r['model']:7} {r['optimizer']:4} seed {r['seed']}: suggested "
        f"{r['suggestion']:.2g} (steepest {r['steepest'] or float('nan'):.2g}, lowest at "
        f"{r['minimum']:.2g}; {r['reason']})"
    )
    head += f" [{r['reading']}]"
    if r.get("skipped"):
        return f"{head}: no such reading"
    if r["diverged"]:
        return f"{head}: DIVERGED ({r['error']})"
    return (
        f"{head}: lr {r['lr']:g} -> train loss {r['train_loss']:.4f}, test accuracy "
        f"{r['test_accuracy']:.4f} (best epoch {r['best_test_accuracy']:.4f}), {r['seconds']:.1f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
