"""Experiment: when does data parallelism pay off? The MLP on one process or on N workers.

The measurement is part of the benchmark (``gradlab bench`` prints it as its
data-parallel section; :mod:`gradlab.bench.parallel`): the benchmark's MLP
(784-200-200-10, float32, plain SGD at lr 0.1, batch 256) trained with the torch engine
on 1 process x all cores, 1 process x 1 thread and N processes x 1 thread
(``MLPClassifier(n_procs=N)``), with gradlab's NumPy engine for reference, each the same
mini-batch SGD (same global batch, same seed, so the same accuracy); then one step of an
N-worker job taken apart: the all-reduce of the MLP's 199,210 gradients (gloo, float32,
timed between barriers), one worker's arithmetic for its block of the batch without
communication, the whole batch in one process, and the whole DDP step, each the median
of ``--steps`` steps. This script runs it on its own, at the sizes given::

    .venv/bin/python -m bench.experiments.data_parallel [--n-train 20000] [--epochs 2]
        [--rounds 1] [--steps 200] [--procs 2]

Training time is the sum of the epochs' seconds (rank 0's, which include waiting for the
others); "wall" adds starting the workers (a fresh Python that imports PyTorch each). The
rows take turns, ``--rounds`` times, and each shows its best round. It backs
docs/data-parallel.md. On a shared machine the absolute times move with the load;
compare the rows of one run.
"""

from __future__ import annotations

import argparse

from gradlab.bench import parallel


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--n-train", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1, help="best of this many runs per row")
    p.add_argument("--steps", type=int, default=200, help="steps timed in the step probe")
    p.add_argument("--procs", type=int, default=2, help="workers of the data-parallel rows")
    args = p.parse_args(argv)

    from gradlab.data.synthetic import make_images

    data = make_images(args.n_train, 5000, seed=0)
    n = parallel.cores()
    print(
        f"MLP {'-'.join(map(str, parallel.SIZES))}, batch {parallel.BATCH}, {args.n_train} "
        f"images, {args.epochs} epochs, {n} cores, best of {args.rounds}\n"
    )
    rows = parallel.fit_rows(
        data, epochs=args.epochs, rounds=args.rounds, procs=args.procs, n_cores=n,
        log=lambda m: None,
    )  # fmt: skip
    print(f"{'':42} {'train s':>8} {'wall s':>8} {'x first':>8} {'test acc':>9}")
    for r in rows:
        print(
            f"{r['path']:42} {r['seconds']:8.2f} {r['wall_seconds']:8.2f} "
            f"{r['ratio']:8.2f} {r['result']:9.4f}"
        )
    step = parallel.step_parts(data, procs=args.procs, steps=args.steps, log=lambda m: None)
    print(
        f"\nOne step of a {args.procs}-worker job (median of {args.steps}; 1 thread each):\n"
        f"  all-reduce of {int(step['params']):,} float32 gradients (gloo): "
        f"{1e3 * step['allreduce']:.3f} ms\n"
        f"  arithmetic of one worker's block ({int(step['block_rows'])} rows), no "
        f"communication: {1e3 * step['block']:.3f} ms\n"
        f"  the whole batch ({parallel.BATCH} rows) in one process: "
        f"{1e3 * step['batch']:.3f} ms\n"
        f"  the whole DDP step ({parallel.BATCH} rows over {args.procs} workers): "
        f"{1e3 * step['ddp']:.3f} ms\n"
        f"  all-reduce / arithmetic: {step['allreduce_over_block']:.2f}"
    )


if __name__ == "__main__":
    main()
