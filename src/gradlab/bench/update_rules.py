"""What an update rule costs per training step: whole steps of the NumPy engine, side by side.

Each row is a whole training step of the benchmark's MLP (784-200-200-10, float32) at
batch 256 on the benchmark's images, as ``MLPClassifier(engine="numpy")`` takes it
(:meth:`~gradlab.engines.numpy_mlp.NumpyMLP.train_step`: gather and cast the batch,
forward, backward, update), with the rule the classifier builds for that optimizer at a
constant rate. The rules run interleaved, ``calls`` steps each per round, over the same
batches, and each keeps its best round: on a shared host the absolute times move with
the load, while the ratio of two steps measured side by side moves less. Each row's
ratio is its step over plain SGD's step of the same rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradlab.bench.rows import Row, add_ratios, row
from gradlab.optim.rules import Rule

#: The benchmark's MLP and batch (as the classifier job: :mod:`gradlab.bench.classify`).
SIZES = (784, 200, 200, 10)
BATCH = 256
#: Batches the steps cycle through (the same ones for every rule).
N_BATCHES = 64
#: Untimed steps of each rule before the rounds (buffers, BLAS threads, caches).
WARMUP_STEPS = 5

#: The rules timed: label -> the classifier's hyperparameters that select it. Plain SGD
#: is the benchmark's job (momentum 0, lr 0.1) and the reference of every ratio; "SGD,
#: momentum 0.9" is ``MLPClassifier()``'s default; the others run at their ``lr="auto"``
#: rate (the rate does not change what a step computes, only its numbers). "Adam" is the
#: step the classifier takes: compiled (:mod:`gradlab.optim.compiled`) where numba is
#: installed; "Adam, NumPy passes" is the reference rule's step (``compiled: False``), one
#: NumPy operation per line of its formula.
RULES: Mapping[str, Mapping[str, Any]] = {
    "plain SGD": {"optimizer": "sgd", "momentum": 0.0, "lr": 0.1},
    "SGD, momentum 0.9": {"optimizer": "sgd", "momentum": 0.9, "lr": "auto"},
    "Adam": {"optimizer": "adam", "lr": "auto"},
    "Adam, NumPy passes": {"optimizer": "adam", "lr": "auto", "compiled": False},
    "AdamW": {"optimizer": "adamw", "lr": "auto"},
    "RMSProp": {"optimizer": "rmsprop", "lr": "auto"},
}
REFERENCE = "plain SGD"

#: A measured call: its (wall, CPU) seconds are read by the timer around it.
Step = Callable[[], None]


def classifier_rule(hyperparameters: Mapping[str, Any]) -> tuple[Rule, bool]:
    """The rule ``MLPClassifier(**hyperparameters)`` trains with, and whether its NumPy
    engine folds the rate into the gradient (it does for SGD without weight decay at a
    constant rate: ``models/_network.py``)."""
    from gradlab.models._spec import DEFAULTS, resolve_optimizer
    from gradlab.optim.rules import SGD

    hp = {**DEFAULTS["mlp"], **hyperparameters}
    hp.pop("compiled", None)
    rule = resolve_optimizer("mlp", hp)
    fold = isinstance(rule, SGD) and not rule.weight_decay
    return rule, fold


def engine_step(
    hyperparameters: Mapping[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    *,
    batch: int = BATCH,
    seed: int = 0,
) -> tuple[Step, Any]:
    """One training step of the NumPy engine with the classifier's rule for
    ``hyperparameters``, cycling through :data:`N_BATCHES` batches of ``X``.

    Parameters
    ----------
    hyperparameters : mapping
        ``optimizer``, ``momentum``, ``lr`` as :class:`~gradlab.models.MLPClassifier`
        takes them, and ``compiled`` (default True) as :class:`NumpyMLP` takes it.
    X : ndarray, shape (n, 784), uint8
        Images, one per row (the engine casts each batch, as in training).
    y : ndarray, shape (n,)
        Labels 0..9.
    batch : int
        Rows per step.
    seed : int
        The initial weights (as ``MLPClassifier(random_state=seed)``) and the batches.

    Returns
    -------
    (callable, NumpyMLP)
        The step (no arguments) and the network it updates.
    """
    from gradlab.engines.numpy_mlp import NumpyMLP
    from gradlab.models._init import init_params

    rule, fold = classifier_rule(hyperparameters)
    params = init_params(SIZES, "kaiming", 0.01, seed)
    compiled = bool(hyperparameters.get("compiled", True))
    net = NumpyMLP(SIZES, params, rule=rule, fold=fold, compiled=compiled)
    data = net.prepare(X.reshape(len(X), -1), y)
    order = np.random.default_rng(seed).permutation(len(y))
    batches = np.resize(order, batch * N_BATCHES).reshape(N_BATCHES, batch)
    lr = float(rule.lr)
    turn = [0]

    def step() -> None:
        net.train_step(data, batches[turn[0]], lr)
        turn[0] = (turn[0] + 1) % N_BATCHES

    return step, net


def interleaved_best(
    steps: Mapping[str, Step],
    rounds: int,
    calls: int,
    *,
    warmup: int = WARMUP_STEPS,
    clocks: tuple[Callable[[], float], Callable[[], float]] = (
        time.perf_counter,
        time.process_time,
    ),
) -> dict[str, tuple[float, float]]:
    """The best seconds per call of each step, on a wall clock and on a CPU clock.

    Every step is called ``warmup`` times untimed, then ``rounds`` rounds each call every
    step ``calls`` times in a row, in turn; a round's time per call is its total over
    ``calls``, and each step keeps its shortest round on each clock.

    Returns
    -------
    dict
        Step name -> (best wall seconds per call, best CPU seconds per call).
    """
    wall, cpu = clocks
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    best = {name: (float("inf"), float("inf")) for name in steps}
    for _ in range(max(1, rounds)):
        for name, fn in steps.items():
            w, c = wall(), cpu()
            for _ in range(max(1, calls)):
                fn()
            w, c = (wall() - w) / max(1, calls), (cpu() - c) / max(1, calls)
            best[name] = (min(best[name][0], w), min(best[name][1], c))
    return best


def describe(rule: Rule, fold: bool, net: Any = None) -> str:
    """The rule's name and the hyperparameters it uses (its rate, and those not 0 or
    off), for the note column; with the engine ``net``, whether its update was compiled."""
    cfg = rule.config()
    name = str(cfg.pop("name"))
    shown = [
        f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in cfg.items()
        if k == "lr" or v not in (0, False)
    ]
    text = f"{name} ({', '.join(shown)})" + ("; rate folded into the gradient" if fold else "")
    if net is not None and net.compiled:
        text += "; compiled step (numba)"
    elif net is not None and not fold:
        text += "; NumPy passes"
    return text


def table(
    X: np.ndarray,
    y: np.ndarray,
    *,
    threads: int,
    rounds: int,
    calls: int,
    rules: Mapping[str, Mapping[str, Any]] = RULES,
    log: Callable[[str], None] = print,
) -> list[Row]:
    """One table: every rule's whole step on ``threads`` BLAS threads, as rows.

    Row fields: ``seconds`` (best wall seconds per step), ``cpu_seconds`` (best CPU
    seconds per step), ``ratio`` (over plain SGD's ``seconds``, by
    :func:`gradlab.bench.rows.add_ratios`), ``cpu_ratio`` (over plain SGD's
    ``cpu_seconds``), ``update_seconds`` (seconds minus plain SGD's: what the rule adds
    to a step), ``threads``, ``rounds``, ``calls``, ``steps`` (steps taken, warm-up
    included) and ``finite`` (whether the weights stayed finite; a step on NaNs is not
    a training step).
    """
    from gradlab.governor import training_threads

    if REFERENCE not in rules:
        raise ValueError(f"the rules must include the reference {REFERENCE!r}")
    made = {label: engine_step(hp, X, y) for label, hp in rules.items()}
    on = f"{threads} BLAS thread{'s' if threads != 1 else ''}"
    log(f"  update rules on {on}: {', '.join(rules)}, {rounds} round(s) ...")
    with training_threads("numpy", threads, True):
        best = interleaved_best({k: v[0] for k, v in made.items()}, rounds, calls)
    job = f"update rules: a whole training step, NumPy engine, {on}"
    out: list[Row] = []
    for label, (wall, cpu) in best.items():
        net = made[label][1]
        rule, fold = classifier_rule(rules[label])
        out.append(
            row(
                job,
                label,
                wall,
                None,
                describe(rule, fold, net),
                gradlab=label == REFERENCE,
                cpu_seconds=cpu,
                threads=threads,
                rounds=rounds,
                calls=calls,
                steps=int(net.opt_state.step),
                finite=bool(np.isfinite(net.flat).all()),
            )
        )
    add_ratios(out)
    ref = next(r for r in out if r.get("gradlab"))
    for r in out:
        r["cpu_ratio"] = r["cpu_seconds"] / ref["cpu_seconds"] if ref["cpu_seconds"] > 0 else None
        r["update_seconds"] = r["seconds"] - ref["seconds"]
    return out


def tables(
    X: np.ndarray,
    y: np.ndarray,
    *,
    thread_counts: Sequence[int],
    rounds: int,
    calls: int,
    rules: Mapping[str, Mapping[str, Any]] = RULES,
    log: Callable[[str], None] = print,
) -> list[list[Row]]:
    """:func:`table` for each thread count (duplicates dropped, in order)."""
    counts = list(dict.fromkeys(thread_counts))
    return [
        table(X, y, threads=n, rounds=rounds, calls=calls, rules=rules, log=log) for n in counts
    ]
