"""gradlab's update rules as their ``torch.optim`` equivalents.

For the torch engines: build the PyTorch optimizer that does what a gradlab
:class:`~gradlab.optim.rules.Rule` does, with the same hyperparameters, and move an
optimizer state between the two (the state's arrays have PyTorch's names, so this is a
copy). ``tests/test_optim_rules.py`` checks that it gives the same parameters, step for
step, as the NumPy rules.

This module imports torch; nothing else in gradlab's optimizer layer does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from gradlab.optim.rules import SGD, Adagrad, Adam, AdamW, RMSprop, Rule, State

__all__ = ["load_state", "optimizer", "read_state"]

#: The per-parameter state entries PyTorch keeps as tensors besides the slots: the step.
_STEP_IN_TORCH_STATE = (Adagrad, RMSprop, Adam)


def optimizer(
    rule: Rule, params: Iterable[torch.Tensor], lr: float | None = None
) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer equivalent to ``rule`` over ``params``.

    Parameters
    ----------
    rule : Rule
    params : iterable of torch.Tensor
        Leaf tensors with ``requires_grad`` (a module's ``parameters()``).
    lr : float, optional
        The rate to build it with (a schedule's ``base_lr``); default ``rule.lr``.
    """
    rate = rule.lr if lr is None else lr
    if isinstance(rule, SGD):
        return torch.optim.SGD(
            params,
            lr=rate,
            momentum=rule.momentum,
            dampening=rule.dampening,
            weight_decay=rule.weight_decay,
            nesterov=rule.nesterov,
        )
    if isinstance(rule, Adagrad):
        return torch.optim.Adagrad(
            params,
            lr=rate,
            lr_decay=rule.lr_decay,
            weight_decay=rule.weight_decay,
            initial_accumulator_value=rule.initial_accumulator_value,
            eps=rule.eps,
        )
    if isinstance(rule, RMSprop):
        return torch.optim.RMSprop(
            params,
            lr=rate,
            alpha=rule.alpha,
            eps=rule.eps,
            weight_decay=rule.weight_decay,
            momentum=rule.momentum,
            centered=rule.centered,
        )
    if isinstance(rule, Adam):  # AdamW too: same arguments, another class
        cls = torch.optim.AdamW if isinstance(rule, AdamW) else torch.optim.Adam
        return cls(
            params,
            lr=rate,
            betas=(float(rule.betas[0]), float(rule.betas[1])),
            eps=rule.eps,
            weight_decay=rule.weight_decay,
            amsgrad=rule.amsgrad,
        )
    raise TypeError(f"no torch.optim equivalent for {type(rule).__name__}")


def load_state(opt: torch.optim.Optimizer, params: Sequence[torch.Tensor], state: State) -> None:
    """Copy a gradlab rule's ``state`` for ``params`` into ``opt`` (built for that rule), so
    PyTorch carries on where the NumPy rule stopped."""
    rule = _rule_class(opt)
    for i, p in enumerate(params):
        entry: dict[str, Any] = {}
        if state.step == 0 and rule is SGD:
            continue  # torch.optim.SGD starts its buffer from the first gradient
        for name, arrays in state.slots.items():
            entry[name] = torch.tensor(arrays[i], dtype=p.dtype, device=p.device)
        if issubclass(rule, _STEP_IN_TORCH_STATE):
            entry["step"] = torch.tensor(float(state.step), dtype=torch.get_default_dtype())
        opt.state[p] = entry


def read_state(rule: Rule, opt: torch.optim.Optimizer, params: Sequence[torch.Tensor]) -> State:
    """A gradlab ``State`` for ``rule`` holding ``opt``'s state for ``params`` (NumPy copies).

    ``torch.optim.SGD`` keeps no step count; its state's ``step`` is 1 once a momentum
    buffer exists (enough for the next step to update the buffer rather than start it).
    """
    arrays = [p.detach().cpu().numpy() for p in params]
    state = rule.init(arrays)
    step = 0
    for i, p in enumerate(params):
        entry = opt.state.get(p, {})
        for name, slot in state.slots.items():
            if name in entry:
                slot[i][...] = entry[name].detach().cpu().numpy()
        if "step" in entry:
            step = int(entry["step"])
        elif "momentum_buffer" in entry and entry["momentum_buffer"] is not None:
            step = max(step, 1)
    state.step = step
    return state


def _rule_class(opt: torch.optim.Optimizer) -> type[Rule]:
    for torch_cls, ours in (
        (torch.optim.AdamW, AdamW),
        (torch.optim.Adam, Adam),
        (torch.optim.RMSprop, RMSprop),
        (torch.optim.Adagrad, Adagrad),
        (torch.optim.SGD, SGD),
    ):
        if isinstance(opt, torch_cls):
            return ours
    raise TypeError(f"no gradlab rule for {type(opt).__name__}")
