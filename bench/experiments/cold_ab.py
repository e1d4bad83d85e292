"""Experiment: does a change make a fresh ``gradlab train`` process faster? Old and new,
interleaved.

Checks out a git revision (``--ref``, default HEAD) into a temporary worktree, writes the
benchmark's cold job (generated images as IDX files, :func:`gradlab.bench.cold.write_job`)
and runs ``gradlab train MODEL`` on it as the benchmark's cold table does, from the
revision and from the working tree in turn (``PYTHONPATH`` picks the sources; both have
their bytecode compiled first), the order swapped every round so that neither always
runs second. Prints each pair, the median and best of each, the median of the pairs'
differences and how often the working tree was faster. Run from the repository root::

    .venv/bin/python -m bench.experiments.cold_ab --model softmax --rounds 20

Not part of the benchmark: it backs the before/after numbers quoted for start-up changes.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gradlab.bench import cold
from gradlab.data.synthetic import make_images

#: The checkout this script sits in: the new sources are its working tree.
REPO = Path(__file__).resolve().parents[2]


def run(src: Path, model: str, folder: Path, epochs: int) -> float:
    """Wall seconds of one ``gradlab train`` process importing gradlab from ``src``."""
    out = folder / f"out-{src.parent.name}"
    command = [sys.executable, "-m", "gradlab", "train", model, "--dataset", "mnist"]
    command += ["--data-dir", str(folder), "--engine", "numpy", "--epochs", str(epochs)]
    command += ["--batch-size", "256", "--lr", "0.1", "--momentum", "0", "--no-plots"]
    command += ["--quiet", "--json", "--out", str(out)]
    return cold.timed(command, env={**os.environ, "PYTHONPATH": str(src)})[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ref", default="HEAD", help="the git revision to compare with")
    p.add_argument("--model", choices=("softmax", "mlp"), default="softmax")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--n-train", type=int, default=60000, help="generated training images")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        worktree = Path(tmp) / "old"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(worktree), args.ref],
            cwd=REPO, check=True,
        )  # fmt: skip
        try:
            sources = {args.ref: worktree / "src", "working tree": REPO / "src"}
            for src in sources.values():
                compileall.compile_dir(src, quiet=2)
            folder = cold.write_job(
                Path(tmp) / "job", make_images(args.n_train, args.n_train // 6, seed=0),
                args.model,
            )  # fmt: skip
            times: dict[str, list[float]] = {k: [] for k in sources}
            for r in range(args.rounds):
                order = list(sources) if r % 2 == 0 else list(reversed(sources))
                for name in order:
                    times[name].append(run(sources[name], args.model, folder, args.epochs))
                print(
                    f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items())
                )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO)
    old, new = times[args.ref], times["working tree"]
    for name, t in times.items():
        print(f"{name:>12}: median {statistics.median(t):.3f} s, best {min(t):.3f} s")
    diffs = [b - a for a, b in zip(old, new, strict=True)]
    faster = sum(d < 0 for d in diffs)
    print(f"working tree - {args.ref}, per round: median {statistics.median(diffs) * 1e3:+.1f} ms; "
          f"the working tree faster in {faster} of {len(diffs)} rounds")  # fmt: skip


if __name__ == "__main__":
    main()
