"""The PyTorch engine: the same models, gradients by autograd.

``style="autograd"`` is the tutorial's form: tensors with ``requires_grad``,
``loss.backward()``, an update under ``torch.no_grad()``, then zeroing the
gradients. ``style="nn"`` is the idiomatic form: ``nn.Linear``, a loss module and
``torch.optim.SGD``. Both give the same numbers.

Another update rule (momentum, Adam, ...) or a schedule, in either style, is PyTorch's
own: the ``torch.optim`` optimizer and ``lr_scheduler`` that
:mod:`gradlab.engines.torch_optim` builds with the same hyperparameters, stepped after
every batch (``optimizer.step()``, then ``scheduler.step()``). The rate of each step is
then the scheduler's, which equals the ``lr`` the loop passes (the schedule's
``lr_at(t)``) to rounding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from gradlab.engines import Problem, Trajectory, torch_optim
from gradlab.errors import UsageError
from gradlab.optim import Batch, Rule, Schedule
from gradlab.optim.rules import is_plain

STYLES = ("autograd", "nn")
#: Below this many data values a step is a few microseconds of arithmetic, and a second
#: intra-op thread only adds synchronisation (12 ms per step instead of 0.1 ms measured
#: on a 2-core machine with the other core busy); such problems run on one thread.
SMALL = 1 << 20


@contextlib.contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, then restore the caller's setting."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a UsageError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "device 'cuda' was asked for, but PyTorch sees no CUDA device.",
            hint="Use device 'cpu' (--device cpu), or 'auto', which takes a GPU where there "
            "is one.",
        )
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}; choose one of: auto, cpu, cuda.")
    return torch.device(device)


def resolve_dtype(dtype: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}.")
    return DTYPES[dtype]


def batch_loss(z: torch.Tensor, y: torch.Tensor, kind: str, reduction: str) -> torch.Tensor:
    """The loss of logits/predictions ``z`` against ``y``, as the tutorials write it."""
    if kind == "squared":
        sq = (z - y) ** 2
        return sq.mean() if reduction == "mean" else 0.5 * sq.sum()
    return nn.functional.binary_cross_entropy_with_logits(z, y, reduction=reduction)


class TorchEngine:
    """Parameters as tensors; see the module docstring for the two styles."""

    def __init__(
        self,
        problem: Problem,
        w0: np.ndarray,
        b0: float,
        *,
        style: str = "autograd",
        device: str = "cpu",
        dtype: str = "float64",
        rule: Rule | None = None,
        schedule: Schedule | None = None,
    ) -> None:
        if style not in STYLES:
            raise UsageError(f"unknown torch style {style!r}; choose one of: {', '.join(STYLES)}.")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.kind = problem.kind
        self.reduction = problem.reduction
        # The whole data set moves to the device once; batches are index lookups.
        self.X = torch.as_tensor(problem.X, dtype=self.dtype, device=self.device)
        self.y = torch.as_tensor(problem.y, dtype=self.dtype, device=self.device)
        self.style = style
        small = self.device.type == "cpu" and problem.X.size < SMALL
        self.threads = 1 if small else None
        if style == "nn":
            self.linear = nn.Linear(problem.X.shape[1], 1, dtype=self.dtype, device=self.device)
            with torch.no_grad():
                self.linear.weight.copy_(torch.as_tensor(w0, dtype=self.dtype)[None, :])
                self.linear.bias.fill_(float(b0))
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                self.linear.parameters(), lr=1.0
            )
        else:
            self.w = torch.tensor(w0, dtype=self.dtype, device=self.device, requires_grad=True)
            self.b = torch.tensor(
                float(b0), dtype=self.dtype, device=self.device, requires_grad=True
            )
        # PyTorch's optimizer and scheduler for any other rule, or any schedule
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        if (rule is not None and not is_plain(rule)) or schedule is not None:
            assert rule is not None, "a schedule comes with its rule"
            params = list(self.linear.parameters()) if style == "nn" else [self.w, self.b]
            self.optimizer, self.scheduler = torch_optim.build(rule, params, schedule)

    def _rows(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(batch, slice):
            return self.X[batch], self.y[batch]
        idx = torch.from_numpy(batch).to(self.device)
        return self.X[idx], self.y[idx]

    def _forward(self, X: torch.Tensor) -> torch.Tensor:
        if self.style == "nn":
            out: torch.Tensor = self.linear(X)[:, 0]
            return out
        return X @ self.w + self.b

    def step(self, batch: Batch, lr: float) -> float:
        with intra_op_threads(self.threads):
            return self._step(batch, lr)

    def _step(self, batch: Batch, lr: float) -> float:
        X, y = self._rows(batch)
        loss = batch_loss(self._forward(X), y, self.kind, self.reduction)
        if self.scheduler is not None:  # torch.optim's rule at the scheduler's rate
            self.optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
            self.scheduler.step()
        elif self.style == "nn":
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
        else:
            loss.backward()  # type: ignore[no-untyped-call]
            assert self.w.grad is not None
            assert self.b.grad is not None
            with torch.no_grad():
                self.w -= lr * self.w.grad
                self.b -= lr * self.b.grad
            self.w.grad.zero_()
            self.b.grad.zero_()
        return float(loss.item())

    def loss(self) -> float:
        with torch.no_grad(), intra_op_threads(self.threads):
            return float(batch_loss(self._forward(self.X), self.y, self.kind, self.reduction))

    def params(self) -> tuple[np.ndarray, float]:
        if self.style == "nn":
            w = self.linear.weight.detach()[0]
            b = self.linear.bias.detach()[0]
        else:
            w, b = self.w.detach(), self.b.detach()
        return w.cpu().to(torch.float64).numpy().copy(), float(b)

    def trajectory(self, lr: float, steps: int) -> Trajectory | None:
        """None: this engine's point is its framework's own gradient, taken step by step."""
        return None


def build(problem: Problem, w0: np.ndarray, b0: float, **options: object) -> TorchEngine:
    """Make the torch engine; options: ``style``, ``device``, ``dtype``, and ``rule`` and
    ``schedule``."""
    return TorchEngine(problem, w0, b0, **options)  # type: ignore[arg-type]
