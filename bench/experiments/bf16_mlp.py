"""Experiment: would bfloat16 GEMMs make the MLP faster on this CPU? (Answer here: no.)

Trains the MLP 784-200-200-10 twice on real MNIST, 10 epochs of plain SGD (lr 0.1, batch
200, the benchmark's settings), with the same initial weights and batches:

- ``float32``: gradlab's NumPy engine;
- ``bf16-gemm``: float32 master weights and element-wise work, but every product in
  bfloat16 through torch (oneDNN's AVX512-BF16 kernels where the CPU has them). Pixels
  0..255 are exact in bfloat16.

It prints the time per step and the test accuracy of each, and the float32 and bfloat16
GEMM rates at the job's shapes. Run from the repository root (needs torch)::

    .venv/bin/python -m bench.experiments.bf16_mlp --mnist DIR

Not part of the benchmark: it backs one paragraph of the README ("gradlab bench").
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from gradlab.data.images import load_images
from gradlab.engines.numpy_mlp import NumpyMLP
from gradlab.models._init import init_params

SIZES = (784, 200, 200, 10)


class Bf16GemmMLP:
    """The MLP with float32 parameters and bfloat16 products (fp32 accumulation)."""

    def __init__(self, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> None:
        import torch

        self.torch = torch
        self.W = [torch.tensor(params[f"W{k}"], dtype=torch.float32) for k in (1, 2, 3)]
        self.b = [torch.tensor(params[f"b{k}"], dtype=torch.float32) for k in (1, 2, 3)]
        self.X = torch.tensor(X)
        self.y = torch.tensor(y)
        self.loss, self.correct = 0.0, 0

    def step(self, idx: np.ndarray, lr: float) -> None:
        """One SGD step on rows ``idx``: the same algebra and bookkeeping as NumpyMLP.step."""
        torch, bf = self.torch, self.torch.bfloat16
        rows = torch.from_numpy(idx)
        m = len(idx)
        xb = self.X[rows].to(bf)
        Wb = [w.to(bf) for w in self.W]
        h1 = torch.relu((xb @ Wb[0]).float() * (1 / 255) + self.b[0])
        h1b = h1.to(bf)
        h2 = torch.relu((h1b @ Wb[1]).float() + self.b[1])
        h2b = h2.to(bf)
        z = (h2b @ Wb[2]).float() + self.b[2]
        yb, at = self.y[rows], torch.arange(m)
        # the loss and the number correct, as the NumPy engine reports them every step
        self.correct += int((z.argmax(1) == yb).sum())
        self.loss += float((torch.logsumexp(z, 1) - z[at, yb]).sum())
        p = torch.softmax(z, 1)
        p[at, yb] -= 1
        g3 = p * (lr / m)
        g3b = g3.to(bf)
        g2 = (g3b @ Wb[2].T).float() * (h2 > 0)
        g2b = g2.to(bf)
        g1 = (g2b @ Wb[1].T).float() * (h1 > 0)
        grads = [
            (xb.T @ (g1 * (1 / 255)).to(bf)).float(),
            (h1b.T @ g2b).float(),
            (h2b.T @ g3b).float(),
        ]
        for w, g in zip(self.W, grads, strict=True):
            w -= g
        for b, g in zip(self.b, (g1, g2, g3), strict=True):
            b -= g.sum(0)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        """Test accuracy, computed in float32."""
        h = self.torch.tensor(X, dtype=self.torch.float32) / 255
        for k in range(3):
            h = h @ self.W[k] + self.b[k]
            if k < 2:
                h = self.torch.relu(h)
        return float((h.argmax(1).numpy() == y).mean())


def train(step: Callable[[np.ndarray], object], n: int, epochs: int, batch: int) -> float:
    """Seconds for ``epochs`` epochs of shuffled mini-batches (gradlab's shuffle order)."""
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = np.random.default_rng([0, epoch]).permutation(n)
        for i in range(0, n, batch):
            step(order[i : i + batch])
    return time.perf_counter() - start


def gemm_rates() -> list[str]:
    """float32 and bfloat16 torch matmul rates at the MLP's shapes (best of 5)."""
    import torch

    lines = []
    for m, k, n in ((200, 784, 200), (784, 200, 200), (200, 200, 200)):
        a, b = torch.rand(m, k), torch.rand(k, n)
        rates = []
        for x, w in ((a, b), (a.bfloat16(), b.bfloat16())):
            for _ in range(20):
                x @ w
            best = float("inf")
            for _ in range(5):
                t = time.perf_counter()
                for _ in range(200):
                    x @ w
                best = min(best, (time.perf_counter() - t) / 200)
            rates.append(2 * m * k * n / best / 1e9)
        fp32, bf16 = rates
        lines.append(f"  {m}x{k} @ {k}x{n}: float32 {fp32:.0f}, bfloat16 {bf16:.0f} GFLOP/s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", required=True, metavar="DIR", help="the MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    ds = load_images("mnist", data_dir=args.mnist, download=False)
    X, y = ds.X_train.reshape(len(ds.X_train), -1), ds.y_train
    Xt, yt = ds.X_test.reshape(len(ds.X_test), -1), ds.y_test
    params = init_params(SIZES, "kaiming", 0.01, 0)
    steps = args.epochs * -(-len(y) // 200)

    ref = NumpyMLP(SIZES, {k: v.copy() for k, v in params.items()})
    data = ref.prepare(X, y)
    seconds = train(lambda idx: ref.train_step(data, idx, 0.1), len(y), args.epochs, 200)
    acc = float((ref.logits(Xt).argmax(1) == yt).mean())
    print(f"float32 (NumPy engine): {seconds / steps * 1e3:.3f} ms/step, test accuracy {acc:.4f}")

    bf16 = Bf16GemmMLP(params, X, y)
    with torch.no_grad():
        seconds = train(lambda idx: bf16.step(idx, 0.1), len(y), args.epochs, 200)
    acc = bf16.accuracy(Xt, yt)
    print(f"bf16-gemm (torch):      {seconds / steps * 1e3:.3f} ms/step, test accuracy {acc:.4f}")
    print("GEMM rates, torch, 2 threads:")
    print("\n".join(gemm_rates()))


if __name__ == "__main__":
    main()
