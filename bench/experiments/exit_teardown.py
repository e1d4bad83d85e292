"""Experiment: what does the interpreter's teardown cost at the end of ``gradlab train``?

:func:`gradlab.process.exit_with` skips the teardown when no thread that Python's exit
waits for is left. This runs the same ``gradlab train MODEL`` process both ways, taking
turns and swapping the order every round: ``skipped`` as gradlab exits, ``teardown``
with that check patched to say a thread is left, so that the process exits through
``SystemExit`` and the whole teardown. Both run on the benchmark's cold job (generated
images as IDX files, :func:`gradlab.bench.cold.write_job`). Prints each round, the median
and best of each, and the median of the rounds' differences. Run from the repository
root::

    .venv/bin/python -m bench.experiments.exit_teardown --model softmax --rounds 16
    GRADLAB_NUMBA=1 .venv/bin/python -m bench.experiments.exit_teardown --model mlp

(``GRADLAB_NUMBA=1`` loads numba's kernels, and its threads, whatever the job's size.)
Not part of the benchmark: it backs the figures in :func:`gradlab.process.exit_with`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from gradlab.bench import cold
from gradlab.data.synthetic import make_images

#: The process, as ``gradlab`` starts it, with the exit made to take the teardown or not.
ENTRY = """import sys
import gradlab.process
if {teardown}:
    gradlab.process._threads_to_wait_for = lambda: True
sys.argv[1:] = {argv!r}
from gradlab.__main__ import main
main()
"""


def run(argv: list[str], teardown: bool) -> float:
    """Wall seconds of one process from spawn to exit; it must exit 0."""
    return cold.timed([sys.executable, "-c", ENTRY.format(teardown=teardown, argv=argv)])[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("softmax", "mlp"), default="softmax")
    p.add_argument("--rounds", type=int, default=16)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--n-train", type=int, default=60000, help="generated training images")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_images(args.n_train, args.n_train // 6, seed=0)
        folder = cold.write_job(Path(tmp) / "job", data, args.model)
        argv = ["train", args.model, "--dataset", "mnist", "--data-dir", str(folder)]
        argv += ["--engine", "numpy", "--epochs", str(args.epochs), "--no-plots", "--quiet"]
        argv += ["--out", str(Path(tmp) / "out")]
        times: dict[str, list[float]] = {"skipped": [], "teardown": []}
        for r in range(args.rounds):
            order = list(times) if r % 2 == 0 else list(reversed(times))
            for name in order:
                times[name].append(run(argv, teardown=name == "teardown"))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()))
    for name, t in times.items():
        print(f"{name:>9}: median {statistics.median(t):.3f} s, best {min(t):.3f} s")
    diffs = [a - b for a, b in zip(times["teardown"], times["skipped"], strict=True)]
    print(f"teardown - skipped, per round: median {statistics.median(diffs) * 1e3:+.1f} ms")


if __name__ == "__main__":
    main()
