"""The learning-rate range test: which rate to train with, measured in a few hundred steps.

Leslie Smith's test (and fastai's ``lr_find``): train a fresh model for a short run while
the rate grows exponentially, step by step, from a rate far too small to move anything
to one far too large, and watch the loss. It stays flat at first, then falls as the rate
becomes useful, bottoms out, and blows up once the rate is too large. A good rate to
train with lies on the falling part, well before the bottom.

Each step's loss is the mean cross-entropy of its mini-batch, measured just before its
update; mini-batches make it noisy, so it is smoothed with an exponential moving
average, ``avg_t = beta avg_{t-1} + (1 - beta) loss_t``, divided by ``1 - beta^(t+1)``
(the bias correction: ``avg`` starts at 0, and without it the first values would sit far
below the loss). The average lags: it describes the loss about ``beta / (1 - beta)``
steps back, where the rate was smaller. fastai's ``beta = 0.98`` lags 49 steps, which
over its 100 steps across 8 decades of rates is 4 decades: the curve it draws at a rate
is the loss at a rate thousands of times smaller, and the minimum it finds is far to
the right of the real one. Here ``beta`` is chosen by default so that the lag is a
quarter of a decade (``beta = lag / (1 + lag)`` with ``lag = steps / decades / 4``:
0.86 for the default 200 steps over 8 decades), enough to average out the batches'
noise without moving the curve. The test stops when the smoothed loss passes
``diverge`` times its lowest value (or the loss stops being finite), since nothing
after that is useful.

Two readings of the curve, as rates (:func:`suggest`):

- **the steepest descent**: where the smoothed loss falls fastest per factor of rate
  (the most negative ``d loss / d log(lr)``), before its lowest point: the rate at which
  one step does the most. This is the suggestion, capped at half the rate of the
  minimum (so that it keeps a margin below where the loss turns, however steep the
  last stretch of the descent).
- **the minimum**: the rate where the smoothed loss is lowest. Training at it is too
  aggressive: just past it lies the blow-up, and a longer run's loss surface sharpens
  as it proceeds. A tenth of it is the classic safe choice, and the suggestion when the
  loss never clearly falls (no steepest descent to read).

On the real MNIST and Fashion-MNIST files the steepest descent trained as well as or
better than a tenth of the minimum in every case tried (softmax regression and the MLP,
plain SGD and Adam; ``python -m bench.experiments.lr_find_check``): the tenth is safe
but often several times too small for plain SGD.

Use it from Python::

    from gradlab.experiments import lr_range_test
    result = lr_range_test(MLPClassifier(optimizer="adam"), X, y)
    result.suggestion, result.reason
    result.plot()                         # the curve, the suggestion marked

or ``gradlab lr-find mlp --optimizer adam``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np

from gradlab.errors import UsageError
from gradlab.models._pictures import returned
from gradlab.params import MAX_EPOCHS, Constraint, Interval, validate

if TYPE_CHECKING:
    from matplotlib.axes import Axes


#: The range test's settings and their defaults (fastai's rates; ``beta=None`` chooses
#: the smoothing from the lag, see the module docstring).
DEFAULTS: dict[str, Any] = {
    "min_lr": 1e-7,
    "max_lr": 10.0,
    "steps": 200,
    "beta": None,
    "diverge": 4.0,
}
#: The fewest steps a range test takes (the smoothing and the search for the steepest
#: descent need a few points between the two ends).
MIN_STEPS = 10
#: The lag of the smoothed loss, in decades of rate, that ``beta=None`` aims at.
LAG_DECADES = 0.25
_CONSTRAINTS: dict[str, Constraint | list[Constraint]] = {
    "min_lr": Interval(Real, 0, None, closed="neither"),
    "max_lr": Interval(Real, 0, None, closed="neither"),
    "steps": Interval(Integral, MIN_STEPS, MAX_EPOCHS),
    "beta": [Interval(Real, 0, 1, closed="left"), None],
    "diverge": Interval(Real, 1, None, closed="neither"),
}
#: Steps skipped at each end when looking for the steepest descent (the first smoothed
#: values rest on few losses, the last ones are the blow-up starting).
SKIP_START, SKIP_END = 5, 2


@dataclass
class RangeTest:
    """The outcome of :func:`lr_range_test`.

    Attributes
    ----------
    rates : ndarray of shape (steps,)
        The rate of each step taken.
    losses : ndarray of shape (steps,)
        Each step's mean batch loss, measured before its update.
    smoothed : ndarray of shape (steps,)
        The bias-corrected exponential moving average of ``losses``.
    suggestion : float
        The rate to train with.
    reason : str
        Why that rate, in a sentence or two.
    minimum : float
        The rate where the smoothed loss is lowest.
    steepest : float or None
        The rate where it falls fastest per factor of rate (None when it never falls).
    stopped : str
        Why the test ended.
    settings : dict
        What was tested: model, optimizer config, batch size, engine, seed, the test's
        own settings.
    seconds : float
    """

    rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    reason: str
    minimum: float
    steepest: float | None
    stopped: str
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the numbers, the suggestion and the reason."""
        return {
            "suggestion": self.suggestion,
            "reason": self.reason,
            "minimum": self.minimum,
            "steepest": self.steepest,
            "stopped": self.stopped,
            "steps": int(self.rates.size),
            "settings": self.settings,
            "seconds": self.seconds,
            "rates": self.rates.tolist(),
            "losses": [float(v) if math.isfinite(v) else None for v in self.losses],
            "smoothed": [float(v) if math.isfinite(v) else None for v in self.smoothed],
        }

    def plot(self, *, title: str = "", ax: Axes | None = None) -> Any:
        """The loss against the rate (log axis), smoothed and raw, with the suggestion,
        the steepest descent and the minimum marked (see :func:`gradlab.viz.lr_find`);
        drawn in ``ax`` (a matplotlib Axes of your own figure) when given."""
        from gradlab.viz.lr_find import lr_find_figure

        return returned(lr_find_figure(self, title=title, ax=ax), ax)


def auto_beta(min_lr: float, max_lr: float, steps: int) -> float:
    """The smoothing factor whose lag, ``beta / (1 - beta)`` steps, is
    :data:`LAG_DECADES` of a decade of rate."""
    lag = LAG_DECADES * (steps - 1) / (math.log10(max_lr) - math.log10(min_lr))
    return lag / (1 + lag)


def smooth(losses: np.ndarray, beta: float) -> np.ndarray:
    """The bias-corrected exponential moving average of ``losses``, shape (n,)."""
    out = np.empty(len(losses))
    avg = 0.0
    for t, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * float(loss)
        out[t] = avg / (1 - beta ** (t + 1))
    return out


def suggest(rates: np.ndarray, smoothed: np.ndarray) -> tuple[float, str, float, float | None]:
    """Read a suggestion off a smoothed range-test curve (see the module docstring).

    Returns
    -------
    suggestion, reason, minimum, steepest
    """
    finite = np.isfinite(smoothed)
    low = int(np.argmin(np.where(finite, smoothed, np.inf)))
    minimum = float(rates[low])
    steepest = None
    lo, hi = SKIP_START, min(low, len(rates) - SKIP_END)
    if hi - lo >= 2:
        slope = np.gradient(smoothed[lo:hi], np.log(rates[lo:hi]))
        i = int(np.argmin(slope))
        if slope[i] < 0:
            steepest = float(rates[lo + i])
    if steepest is None:
        return (
            minimum / 10,
            f"a tenth of the rate where the smoothed loss is lowest ({_num(minimum)}): the "
            "loss never clearly falls before that, so there is no steepest descent to read, "
            "and a tenth keeps well clear of the blow-up just past the lowest point",
            minimum,
            None,
        )
    if steepest > minimum / 2:
        return (
            minimum / 2,
            f"half the rate where the smoothed loss is lowest ({_num(minimum)}): it falls "
            f"fastest at {_num(steepest)}, so close to the lowest point that the suggestion "
            "keeps a margin below where the loss turns and blows up",
            minimum,
            steepest,
        )
    turns = (
        "and turns to blow up"
        if low < len(rates) - 1
        else "(the last rate tried: the loss was still falling there)"
    )
    return (
        steepest,
        f"the rate where the smoothed loss falls fastest: there each step does the most, "
        f"{minimum / steepest:.2g} times below the rate where the loss is lowest "
        f"({_num(minimum)}) {turns}",
        minimum,
        steepest,
    )


def _num(x: float) -> str:
    return f"{x:.2g}"


def lr_range_test(
    estimator: Any,
    X: Any,
    y: Any = None,
    *,
    min_lr: float = DEFAULTS["min_lr"],
    max_lr: float = DEFAULTS["max_lr"],
    steps: int = DEFAULTS["steps"],
    beta: float | None = DEFAULTS["beta"],
    diverge: float = DEFAULTS["diverge"],
) -> RangeTest:
    """The learning-rate range test of ``estimator``'s model on ``(X, y)``.

    A fresh model with the estimator's hyperparameters (its optimizer, batch size,
    initialisation, engine, seed; ``lr`` and ``schedule`` are what the test replaces)
    takes ``steps`` mini-batch steps at rates growing exponentially from ``min_lr`` to
    ``max_lr`` (``rate_t = min_lr (max_lr / min_lr)^(t / (steps - 1))``); the estimator
    itself is not changed. See the module docstring for the reading.

    Parameters
    ----------
    estimator : MLPClassifier or SoftmaxRegression (or the command line's classifier)
    X : array-like of shape (n, ...)
    y : array-like of shape (n,)
    min_lr, max_lr : float
        The first and the last rate (> 0, ``min_lr < max_lr``).
    steps : int >= 10
        Steps of the test (batches; the data is reshuffled as epochs run out).
    beta : float in [0, 1), optional
        The smoothing factor of the moving average (0: no smoothing); by default
        :func:`auto_beta`, a lag of a quarter decade of rate.
    diverge : float > 1
        Stop once the smoothed loss passes this many times its lowest value.

    Returns
    -------
    RangeTest

    Raises
    ------
    UsageError
        A bad setting (the message names it) or hyperparameter of the estimator.
    """
    settings: dict[str, Any] = {
        "min_lr": min_lr,
        "max_lr": max_lr,
        "steps": steps,
        "beta": beta,
        "diverge": diverge,
    }
    validate(_CONSTRAINTS, settings, "lr_range_test")
    if isinstance(estimator, type) or not hasattr(estimator, "_range_test_start"):
        what = (
            f"the class {estimator.__name__}"
            if isinstance(estimator, type)
            else type(estimator).__name__
        )
        raise UsageError(
            f"lr_range_test: estimator must be a gradlab classifier; got {what}.",
            hint="Give an instance, with the settings to test: SoftmaxRegression() or "
            "MLPClassifier(optimizer='adam', ...).",
        )
    if not min_lr < max_lr:
        raise UsageError(
            f"lr_range_test: min_lr must be below max_lr; got min_lr={min_lr:g}, max_lr={max_lr:g}."
        )
    decades = math.log10(max_lr) - math.log10(min_lr)
    if steps - 1 < decades:
        raise UsageError(
            f"lr_range_test: min_lr={min_lr:g} to max_lr={max_lr:g} spans {decades:.3g} "
            f"decades, more than steps={steps} can cover at one step a decade; the test would "
            "step over the rates it looks for.",
            hint="Narrow the range (useful rates lie within 1e-7 .. 10), or raise steps.",
        )
    smoothing = auto_beta(min_lr, max_lr, steps) if beta is None else float(beta)
    settings["beta"] = smoothing
    from gradlab.governor import training_threads
    from gradlab.train import BatchStats

    start = time.perf_counter()
    fresh = estimator._range_test_start(X, y)
    net, data, n, batch = fresh["net"], fresh["data"], fresh["n"], fresh["batch_size"]
    # in logarithms: the ratio max_lr / min_lr itself may overflow (1e308 / 1e-10)
    rates = np.exp(np.linspace(math.log(min_lr), math.log(max_lr), steps))
    rates[0], rates[-1] = min_lr, max_lr
    losses: list[float] = []
    smoothed: list[float] = []
    avg, best = 0.0, math.inf
    stopped = f"it reached the last rate, {_num(max_lr)}"
    seed = fresh["seed"]
    with (
        np.errstate(all="ignore"),
        training_threads(
            fresh["engine"],
            fresh["cpu_threads"],
            fresh["on_cpu"],
            getattr(net, "thread_pool", None),
        ) as governor,
    ):
        if governor is not None:
            governor.on_train_begin({})
        epoch, order, pos = 1, np.random.default_rng([seed, 1]).permutation(n), 0
        for t, rate in enumerate(rates):
            if pos >= n:
                epoch, pos = epoch + 1, 0
                order = np.random.default_rng([seed, epoch]).permutation(n)
            idx = order[pos : pos + batch]
            pos += batch
            loss_sum, _ = net.train_step(data, idx, float(rate))
            loss = float(loss_sum) / idx.size
            if governor is not None:
                governor.on_batch_end(epoch, t, BatchStats())
            losses.append(loss)
            if not math.isfinite(loss):
                smoothed.append(math.nan)
                stopped = f"the loss stopped being finite at rate {_num(rate)}"
                break
            avg = smoothing * avg + (1 - smoothing) * loss
            value = avg / (1 - smoothing ** (t + 1))
            smoothed.append(value)
            best = min(best, value)
            if t > SKIP_START and value > diverge * best:
                stopped = (
                    f"the smoothed loss passed {diverge:g} times its lowest at rate {_num(rate)}"
                )
                break
    taken = len(losses)
    r, s = rates[:taken], np.asarray(smoothed)
    if not np.isfinite(s).any():
        raise UsageError(
            f"lr_range_test: the loss was not finite even at the first rate, {_num(min_lr)}.",
            hint="Check the data for huge values, or start from a smaller min_lr.",
        )
    suggestion, reason, minimum, steepest = suggest(r, s)
    settings.update(fresh["describe"])
    return RangeTest(
        rates=r,
        losses=np.asarray(losses),
        smoothed=s,
        suggestion=suggestion,
        reason=reason,
        minimum=minimum,
        steepest=steepest,
        stopped=stopped,
        settings=settings,
        seconds=time.perf_counter() - start,
    )
