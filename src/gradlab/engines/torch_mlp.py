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

from gradlab.engines.torch_engine import resolve_device


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
    ) -> None:
        self.device = resolve_device(device)
        self.sizes = tuple(sizes)
        self.model = build_sequential(sizes).to(self.device)
        self.linears = [m for m in self.model if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for k, lin in enumerate(self.linears, 1):
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(params[f"W{k}"].T)))
                lin.bias.copy_(torch.from_numpy(np.asarray(params[f"b{k}"])))
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=momentum)
        if momentum and velocity:  # resume the momentum buffers of a checkpoint
            for k, lin in enumerate(self.linears, 1):
                for p, key, t in ((lin.weight, f"vW{k}", True), (lin.bias, f"vb{k}", False)):
                    value = velocity[key].T if t else velocity[key]
                    buf = torch.from_numpy(np.ascontiguousarray(value)).to(self.device)
                    self.optimizer.state[p]["momentum_buffer"] = buf

    def prepare(self, X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Move the whole data set to the device once (uint8 pixels stay uint8 there)."""
        if X.dtype != np.uint8:
            X = np.ascontiguousarray(X, np.float32)
        Xt = torch.from_numpy(np.ascontiguousarray(X)).to(self.device)
        yt = torch.from_numpy(np.ascontiguousarray(y, np.int64)).to(self.device)
        return Xt, yt

    @staticmethod
    def floats(X: torch.Tensor) -> torch.Tensor:
        """A batch as float32: uint8 pixels scaled to [0, 1]."""
        if X.dtype == torch.uint8:
            return X.to(torch.float32).mul_(1 / 255)
        return X

    def train_step(
        self, data: tuple[torch.Tensor, torch.Tensor], idx: np.ndarray, lr: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        X, y = data
        rows = torch.from_numpy(idx).to(self.device, non_blocking=True)
        Xb, yb = self.floats(X[rows]), y[rows]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        logits = self.model(Xb)
        loss = self.loss_fn(logits, yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        with torch.no_grad():
            correct = (logits.argmax(dim=1) == yb).sum()
        # Stay on the device: the loop sums these and reads them once per epoch.
        return loss.detach() * yb.shape[0], correct

    @torch.no_grad()
    def evaluate(
        self, data: tuple[torch.Tensor, torch.Tensor], batch: int = 4096
    ) -> tuple[float, int]:
        X, y = data
        total = torch.zeros((), device=self.device)
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
