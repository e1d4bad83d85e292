"""Experiment: how many rows should the NumPy engine evaluate at a time?

Times :meth:`gradlab.engines.numpy_mlp.NumpyMLP.evaluate` of softmax regression on
10,000 generated test images at several batch sizes, and the cast of the uint8 pixels
into float buffers alone. Large batches make a float buffer larger than the L2 cache, so
the cast goes out to memory and the product reads it back.

    python -m bench.experiments.evaluation_batch [--rounds 3] [--model softmax|mlp]
"""

from __future__ import annotations

import argparse
import time

from gradlab.data.synthetic import make_images
from gradlab.engines.numpy_mlp import NumpyMLP
from gradlab.models._init import init_params

SIZES = {"softmax": (784, 10), "mlp": (784, 200, 200, 10)}
BATCHES = (2000, 1000, 512, 256, 128)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", choices=sorted(SIZES), default="softmax")
    args = parser.parse_args()
    sizes = SIZES[args.model]
    d = make_images(60000, 10000, seed=0)
    net = NumpyMLP(sizes, init_params(sizes, "kaiming", 0.01, 0))
    data = net.prepare(d.X_test.reshape(10000, -1), d.y_test)
    X = data[0]
    for _ in range(args.rounds):
        out = []
        for b in BATCHES:
            net.evaluate(data, b)  # buffers for this batch size
            t = time.perf_counter()
            for _ in range(5):
                net.evaluate(data, b)
            whole = (time.perf_counter() - t) / 5
            t = time.perf_counter()
            for _ in range(5):
                for i in range(0, X.shape[0], b):
                    net.rows(X, slice(i, i + b))
            cast = (time.perf_counter() - t) / 5
            out.append(f"{b}: {whole * 1e3:.1f} ms (cast {cast * 1e3:.1f})")
        print(" | ".join(out), flush=True)


if __name__ == "__main__":
    main()
