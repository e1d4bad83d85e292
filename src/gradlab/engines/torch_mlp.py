"""The same MLP in PyTorch: ``nn.Sequential``, ``nn.CrossEntropyLoss``, ``torch.optim.SGD``.

This is the tutorial's concise form (``nn.Sequential(nn.Flatten(), nn.Linear(784, 10))``
for softmax regression), with the data held on the device as one tensor and batches
taken by index, not produced image by image by a DataLoader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from gradlab.distributed import SOLO, World
from gradlab.engines.distributed import data_parallel
from gradlab.engines.torch_engine import resolve_device, resolve_dtype


def build_sequential(sizes: Sequence[int]) -> nn.Sequential:
    """``Flatten, Linear, ReLU, ..., Linear``: ReLU between layers, none on the output."""
    layers: list[nn.Module] = [nn.Flatten()]
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class TorchMLP:
    """An MLP on a torch device, started from the given parameters.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input to output.
    params : dict of str to ndarray
        ``W1`` (fan_in, fan_out), ``b1``, ... as for :class:`~gradlab.engines.numpy_mlp.NumpyMLP`.
    momentum : float
    device : {"auto", "cpu", "cuda"}
    velocity : dict of str to ndarray, optional
        Momentum buffers ``vW1, vb1, ...`` to continue from, as :meth:`velocities`
        returns them (``torch.optim.SGD``'s: ``v <- momentum * v + g``, the step being
        ``lr * v``), weights in the ``(fan_in, fan_out)`` layout.
    world : World, optional
        The data-parallel job this worker belongs to (default: a single process). Every
        step takes this worker's block of the global batch (:meth:`World.block`) and
        scales its summed loss by ``W / global batch``; DistributedDataParallel averages
        the gradients over the ``W`` workers, so the step is that of the whole global batch,
        even when the batch does not split evenly. A single process is the same code with
        ``W = 1``.
    dtype : {"float32", "float64"}
        The parameters' and the arithmetic's precision (float64 shows that data-parallel
        training is the same mini-batch SGD, to rounding).
    """

    #: What :meth:`velocities` holds: ``torch.optim.SGD``'s buffers, in gradient units.
    VELOCITY_UNITS = "gradient"

    def __init__(
        self,
        sizes: Sequence[int],
        params: Mapping[str, np.ndarray],
        momentum: float = 0.0,
        device: str = "auto",
        velocity: Mapping[str, np.ndarray] | None = None,
        world: World = SOLO,
        dtype: str = "float32",
    ) -> None:
        self.device = resolve_device(device)
        self.sizes = tuple(sizes)
        self.world = world
        self.dtype = resolve_dtype(dtype)
        self.model = build_sequential(sizes).to(self.device, self.dtype)
        self.linears = [m for m in self.model if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for k, lin in enumerate(self.linears, 1):
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(params[f"W{k}"].T)))
                lin.bias.copy_(torch.from_numpy(np.asarray(params[f"b{k}"])))
        self.loss_fn = nn.CrossEntropyLoss(reduction="sum")
        # the module that runs the steps: the model itself, or DDP around it (same parameters)
        self.stepper = data_parallel(self.model, world)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=momentum)
        if momentum and velocity:  # resume the momentum buffers of a checkpoint
            for k, lin in enumerate(self.linears, 1):
                for p, key, t in ((lin.weight, f"vW{k}", True), (lin.bias, f"vb{k}", False)):
                    value = velocity[key].T if t else velocity[key]
                    buf = torch.from_numpy(np.ascontiguousarray(value))
                    buf = buf.to(self.device, self.dtype)
                    self.optimizer.state[p]["momentum_buffer"] = buf

    def prepare(self, X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Move the whole data set to the device once (uint8 pixels stay uint8 there)."""
        if X.dtype != np.uint8:
            X = np.ascontiguousarray(X, np.float64 if self.dtype == torch.float64 else np.float32)
        Xt = torch.from_numpy(np.ascontiguousarray(X)).to(self.device)
        yt = torch.from_numpy(np.ascontiguousarray(y, np.int64)).to(self.device)
        return Xt, yt

    def floats(self, X: torch.Tensor) -> torch.Tensor:
        """A batch in the model's dtype: uint8 pixels scaled to [0, 1]."""
        if X.dtype == torch.uint8:
            return X.to(self.dtype).mul_(1 / 255)
        return X.to(self.dtype)

    def train_step(
        self, data: tuple[torch.Tensor, torch.Tensor], idx: np.ndarray, lr: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step on the global batch ``idx``: this worker computes the gradient of its
        block; returns its block's (sum of losses, number correct)."""
        X, y = data
        mine = idx[self.world.block(idx.size)]
        rows = torch.from_numpy(mine).to(self.device, non_blocking=True)
        Xb, yb = self.floats(X[rows]), y[rows]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        logits = self.stepper(Xb)
        loss_sum = self.loss_fn(logits, yb)
        # DDP averages over the W workers: (1/W) sum_r (W/B) sum_block = (1/B) sum_batch
        loss = loss_sum / (idx.size / self.world.size)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        with torch.no_grad():
            correct = (logits.argmax(dim=1) == yb).sum()
        # Stay on the device: the loop sums these and reads them once per epoch.
        return loss_sum.detach(), correct

    @torch.no_grad()
    def evaluate(
        self, data: tuple[torch.Tensor, torch.Tensor], batch: int = 4096
    ) -> tuple[float, int]:
        X, y = data
        total = torch.zeros((), dtype=self.dtype, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for i in range(0, X.shape[0], batch):
            logits = self.model(self.floats(X[i : i + batch]))
            yb = y[i : i + batch]
            total += nn.functional.cross_entropy(logits, yb, reduction="sum")
            correct += (logits.argmax(dim=1) == yb).sum()
        return float(total), int(correct)

    def state(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for k, lin in enumerate(self.linears, 1):
            out[f"W{k}"] = lin.weight.detach().cpu().numpy().T.copy()
            out[f"b{k}"] = lin.bias.detach().cpu().numpy().copy()
        return out

    def velocities(self) -> dict[str, np.ndarray]:
        """The optimizer's momentum buffers as ``vW1, vb1, ...`` (empty without momentum)."""
        out: dict[str, np.ndarray] = {}
        for k, lin in enumerate(self.linears, 1):
            for p, key, t in ((lin.weight, f"vW{k}", True), (lin.bias, f"vb{k}", False)):
                buf = self.optimizer.state.get(p, {}).get("momentum_buffer")
                if buf is not None:
                    value = buf.detach().cpu().numpy()
                    out[key] = value.T.copy() if t else value.copy()
        return out
