"""gradlab's update rules and schedules as their ``torch.optim`` equivalents.

For the torch engines: build the PyTorch optimizer (and scheduler) that does what a
gradlab :class:`~gradlab.optim.rules.Rule` (and
:class:`~gradlab.optim.schedules.Schedule`) does, with the same hyperparameters, and move
an optimizer state between the two (the state's arrays have PyTorch's names, so this is
a copy). ``tests/test_optim_rules.py`` and ``tests/test_schedules.py`` check that the pair
gives the same parameters, step for step, as the NumPy rules.

Drive the pair in PyTorch's order::

    optimizer, scheduler = build(rule, model.parameters(), schedule)
    for t in range(steps):
        loss(...).backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()          # the rate for step t + 1 is schedule.lr_at(t + 1)

This module imports torch; nothing else in gradlab's optimizer layer does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch.optim import lr_scheduler

from gradlab.optim.rules import SGD, Adagrad, Adam, AdamW, RMSprop, Rule, State
from gradlab.optim.schedules import (
    Constant,
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    OneCycleLR,
    Schedule,
    SequentialLR,
    StepLR,
)

__all__ = ["build", "load_state", "optimizer", "read_state", "scheduler"]

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


def _one(_: int) -> float:
    return 1.0


def scheduler(schedule: Schedule, opt: torch.optim.Optimizer) -> lr_scheduler.LRScheduler:
    """The ``torch.optim.lr_scheduler`` equivalent to ``schedule``, driving ``opt``.

    ``opt`` must have been built with ``lr=schedule.base_lr`` (as :func:`build` does):
    PyTorch's schedulers scale the optimizer's own rate. :class:`Constant` becomes a
    ``LambdaLR`` of factor 1, so there is always a scheduler to step.
    """
    s = schedule
    if isinstance(s, Constant):
        return lr_scheduler.LambdaLR(opt, _one)
    if isinstance(s, StepLR):
        return lr_scheduler.StepLR(opt, step_size=s.step_size, gamma=s.gamma)
    if isinstance(s, ExponentialLR):
        return lr_scheduler.ExponentialLR(opt, gamma=s.gamma)
    if isinstance(s, CosineAnnealingLR):
        return lr_scheduler.CosineAnnealingLR(opt, T_max=s.T_max, eta_min=s.eta_min)
    if isinstance(s, LinearLR):
        return lr_scheduler.LinearLR(
            opt, start_factor=s.start_factor, end_factor=s.end_factor, total_iters=s.total_iters
        )
    if isinstance(s, OneCycleLR):
        return lr_scheduler.OneCycleLR(
            opt,
            max_lr=s.max_lr,
            total_steps=s.total_steps,
            pct_start=float(s.pct_start),
            anneal_strategy=s.anneal_strategy,  # type: ignore[arg-type]
            cycle_momentum=False,
            div_factor=s.div_factor,
            final_div_factor=s.final_div_factor,
            three_phase=s.three_phase,
        )
    if isinstance(s, SequentialLR):
        subs = [scheduler(sub, opt) for sub in s.schedules]
        return lr_scheduler.SequentialLR(opt, subs, milestones=list(s.milestones))
    raise TypeError(f"no torch.optim.lr_scheduler equivalent for {type(s).__name__}")


def build(
    rule: Rule, params: Iterable[torch.Tensor], schedule: Schedule | None = None
) -> tuple[torch.optim.Optimizer, lr_scheduler.LRScheduler]:
    """The optimizer for ``rule`` and the scheduler for ``schedule`` (default: the rule's
    constant rate), wired together."""
    schedule = schedule if schedule is not None else Constant(rule.lr)
    opt = optimizer(rule, params, lr=schedule.base_lr)
    return opt, scheduler(schedule, opt)


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
