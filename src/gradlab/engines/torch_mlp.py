"""The same MLP in PyTorch: ``nn.Sequential``, ``nn.CrossEntropyLoss``, ``torch.optim``.

This is the tutorial's concise form (``nn.Sequential(nn.Flatten(), nn.Linear(784, 10))``
for softmax regression), with the data held on the device as one tensor and batches
taken by index, not produced image by image by a DataLoader. The optimizer is the
``torch.optim`` class of the gradlab rule asked for, with the same hyperparameters
(:func:`gradlab.engines.torch_optim.optimizer`); each step sets its rate, so a schedule
gives PyTorch the very rates it gives the NumPy engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from gradlab.distributed import SOLO, World
from gradlab.engines import torch_optim
from gradlab.engines.distributed import data_parallel
from gradlab.engines.optstate import SavedOptimizer, param_names
from gradlab.engines.torch_engine import resolve_device, resolve_dtype
from gradlab.errors import UsageError
from gradlab.optim.rules import SGD, Rule


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
        Without ``rule``: ``torch.optim.SGD`` with this momentum.
    device : {"auto", "cpu", "cuda"}
    velocity : dict of str to ndarray, optional
        Without ``rule``: momentum buffers ``vW1, vb1, ...`` to continue from, as
        :meth:`velocities` returns them (``torch.optim.SGD``'s: ``v <- momentum * v + g``,
        the step being ``lr * v``), weights in the ``(fan_in, fan_out)`` layout.
    rule : Rule, optional
        The gradlab rule whose ``torch.optim`` equivalent updates the weights.
    saved : SavedOptimizer, optional
        Its state to continue from (in gradient units).
    world : World, optional
        The data-parallel job this worker belongs to (default: a single process). Every
        step takes this worker's block of the global batch (:meth:`World.block`) and
        scales its summed loss by ``W / global batch``; DistributedDataParallel averages
        the gradients over the ``W`` workers, so the step is that of the whole global batch,
        even when the batch does not split evenly. A single process is the same code with
        ``W = 1``. Any update rule stays exact: the gradients are averaged before the step.
    dtype : {"float32", "float64"}
        The parameters' and the arithmetic's precision (float64 shows that data-parallel
        training is the same mini-batch SGD, to rounding).
    """

    #: The units of the momentum buffers: ``torch.optim.SGD``'s, in gradient units.
    units = "gradient"

    def __init__(
        self,
        sizes: Sequence[int],
        params: Mapping[str, np.ndarray],
        momentum: float = 0.0,
        device: str = "auto",
        velocity: Mapping[str, np.ndarray] | None = None,
        *,
        rule: Rule | None = None,
        saved: SavedOptimizer | None = None,
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
        self.rule = rule if rule is not None else SGD(lr=0.1, momentum=momentum)
        self.params = [p for lin in self.linears for p in (lin.weight, lin.bias)]
        self.names = param_names(len(self.linears))
        self.optimizer = torch_optim.optimizer(self.rule, self.params)
        #: Updates taken (``torch.optim.SGD`` keeps no count of its own).
        self.steps = 0
        if saved is not None:
            self.load_optimizer_state(saved)
        elif momentum and velocity:  # resume the momentum buffers of a checkpoint
            buffers = {f"momentum_buffer/{n}": velocity[f"v{n}"] for n in self.names}
            self.load_optimizer_state(SavedOptimizer(self.rule.config(), 1, buffers))

    def _numpy_dtype(self) -> np.dtype:  # type: ignore[type-arg]
        """The NumPy dtype of the parameters."""
        return torch.empty((), dtype=self.dtype).numpy().dtype

    def _layout(self, name: str, value: np.ndarray) -> np.ndarray:
        """A parameter-shaped array between gradlab's layout and torch's (weights are
        transposed); the same function both ways."""
        return np.ascontiguousarray(value.T if name.startswith("W") else value)

    def load_optimizer_state(self, saved: SavedOptimizer) -> None:
        """Continue from ``saved`` (a state of this rule's kind, in gradient units).

        Raises
        ------
        DataError
            The state belongs to another rule, or its arrays do not fit the parameters.
        """
        saved.require_fits(self.rule)
        saved = saved.in_units("gradient", None)
        saved.check(
            {
                n: tuple(p.shape[::-1]) if n.startswith("W") else tuple(p.shape)
                for n, p in zip(self.names, self.params, strict=True)
            }
        )
        arrays = [np.empty(tuple(p.shape), self._numpy_dtype()) for p in self.params]
        state = self.rule.init(arrays)
        for slot, per_param in state.slots.items():
            for i, name in enumerate(self.names):
                per_param[i][...] = self._layout(name, saved.arrays[f"{slot}/{name}"])
        state.step = self.steps = int(saved.step)
        torch_optim.load_state(self.optimizer, self.params, state)

    def optimizer_state(self) -> SavedOptimizer:
        """A copy of the optimizer's state, per parameter in gradlab's layout."""
        state = torch_optim.read_state(self.rule, self.optimizer, self.params)
        arrays = {
            f"{slot}/{name}": self._layout(name, per_param[i]).copy()
            for slot, per_param in state.slots.items()
            for i, name in enumerate(self.names)
        }
        return SavedOptimizer(self.rule.config(), self.steps, arrays, "gradient")

    def prepare(self, X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Move the whole data set to the device once (uint8 pixels stay uint8 there)."""
        if X.dtype != np.uint8:
            X = np.ascontiguousarray(X, self._numpy_dtype())
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
        try:
            self.optimizer.step()
        except RuntimeError as exc:  # torch.optim casts the rate to the parameters' dtype
            if "overflow" not in str(exc):
                raise
            largest = torch.finfo(self.dtype).max
            raise UsageError(
                f"a learning rate of {lr:g} overflows {self.dtype} (largest {largest:.3g}) in "
                "the optimizer's step; the torch engine trains in that dtype.",
                hint="Use a far smaller lr (rates above 10 rarely train), or dtype='float64'.",
            ) from None
        self.steps += 1
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

    def load_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Set the weights to ``params`` (``W1, b1, ...`` in gradlab's layout)."""
        with torch.no_grad():
            for name, p in zip(self.names, self.params, strict=True):
                p.copy_(torch.from_numpy(self._layout(name, np.asarray(params[name]))))

    def velocities(self) -> dict[str, np.ndarray]:
        """SGD's momentum buffers as ``vW1, vb1, ...`` (empty for another rule, or before
        the first step)."""
        saved = self.optimizer_state()
        if saved.step == 0:
            return {}
        return {
            f"v{k.split('/')[1]}": v for k, v in saved.arrays.items() if k.startswith("momentum_")
        }
