"""The training curves of a classifier: loss and accuracy per epoch, on separate axes, and
the learning rate beside them when a schedule changed it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gradlab.viz.images import about
from gradlab.viz.save import new_figure

if TYPE_CHECKING:
    from gradlab.viz.figure import Figure

TRAIN, TEST, VALIDATION, RATE = "#4477aa", "#ee7733", "#228833", "#aa3377"

#: (column, label, panel, color, line style)
CURVES = (
    ("train_loss", "train loss (epoch mean)", 0, TRAIN, "-"),
    ("val_loss", "validation loss", 0, VALIDATION, ":"),
    ("test_loss", "test loss", 0, TEST, "--"),
    ("train_accuracy", "train accuracy (epoch mean)", 1, TRAIN, "-"),
    ("val_accuracy", "validation accuracy", 1, VALIDATION, ":"),
    ("test_accuracy", "test accuracy", 1, TEST, "--"),
)


def rate_changes(columns: Mapping[str, Sequence[float]]) -> bool:
    """Whether the history's ``lr`` column holds more than one finite rate."""
    rates = {v for v in columns.get("lr", []) if math.isfinite(v)}
    return len(rates) > 1


def curves_title(model: str = "", dataset: str = "") -> str:
    """``"MLP on digits: loss and accuracy per epoch"``."""
    head = about(model, dataset)
    return f"{head}: loss and accuracy per epoch" if head else "Loss and accuracy per epoch"


def training_curves(
    columns: Mapping[str, Sequence[float]],
    *,
    epochs: int | None = None,
    title: str = "",
    model: str = "",
    dataset: str = "",
    rates: tuple[Sequence[float], Sequence[float]] | None = None,
) -> Figure:
    """Loss (left) and accuracy (middle) per epoch, training in blue, test in orange dashes,
    and the learning rate (right) when it changed.

    The four curves, as :func:`gradlab.train.train` records them:

    - **train loss**: the mean cross-entropy of the epoch's mini-batches, each measured
      just before its own update. The weights change during the epoch, so it describes
      the model over the epoch, a little behind the model at its end.
    - **test loss**: the mean cross-entropy on the test set, after the epoch.
    - **train accuracy**: the share of training images classified correctly during the
      epoch (measured like the train loss).
    - **test accuracy**: the share of test images classified correctly after the epoch.

    A test loss that rises while the train loss keeps falling is the sign of
    overfitting. Test accuracy above train accuracy early on is no paradox: the test is
    taken at the end of the epoch, the training numbers along the way. With early
    stopping, the validation curves (green dots) are what it watched.

    When a schedule changed the rate (``rates`` given, or a history ``lr`` column that
    is not constant), a third panel draws the rate over the epochs, on a log scale when
    it spans more than a factor of 10: each epoch's rate (the ``lr`` column, a step at
    each epoch), or with ``rates`` the rate of every step. Read beside the loss, it
    shows which bends of the curve the schedule made.

    Parameters
    ----------
    columns : mapping of str to sequence of float
        ``epoch`` and any of the four curves' columns (all-NaN columns are skipped).
    epochs : int, optional
        The x axis runs to this epoch (the whole run, while it is still going).
    title : str, optional
        Replaces the title made by :func:`curves_title` from ``model`` and ``dataset``.
    model, dataset : str, optional
        Named in the title: ``"MLP"``, ``"digits"``.
    rates : (x, rates), optional
        The rate of every step (or epoch), ``x`` in epochs from 0 (step ``t`` of an epoch
        of ``n`` steps at ``t / n``), as :meth:`gradlab.train.LearningRate.curve` gives
        them.

    Returns
    -------
    Figure
        Two axes (loss, accuracy), a third (learning rate) when it changed, and one
        legend below them, outside the axes.
    """
    ep = list(columns.get("epoch", []))
    if rates is None and rate_changes(columns):
        lr = list(columns["lr"])
        rates = ([e - 1 for e in ep], lr)
    with_rate = rates is not None and len({float(r) for r in rates[1]}) > 1
    fig = new_figure(11.6 if with_rate else 8.4, 3.9)
    axes = fig.subplots(1, 3 if with_rate else 2)
    loss_ax, acc_ax = axes[0], axes[1]
    for key, label, panel, color, style in CURVES:
        values = columns.get(key)
        if values and any(v == v for v in values):  # skip absent and all-NaN columns
            ax = (loss_ax, acc_ax)[panel]
            marker = "o" if len(ep) <= 40 else None
            ax.plot(ep, values, style, color=color, marker=marker, ms=3, lw=1.6, label=label)
    loss_ax.set_ylabel("cross-entropy loss")
    drawn = [v for line in loss_ax.lines for v in line.get_ydata() if math.isfinite(v)]
    # room above the highest marker, which the axes' edge would cut in half
    loss_ax.set_ylim(0, 1.08 * max(drawn) if drawn and max(drawn) > 0 else None)
    acc_ax.set_ylabel("accuracy (share correct)")
    top = 1.0 + 0.02
    acc_ax.set_ylim(top=top)
    for ax, name in ((loss_ax, "loss (lower is better)"), (acc_ax, "accuracy (higher is better)")):
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(_whole_epochs())  # no epoch 1.25
        if epochs:
            ax.set_xlim(0.5, max(epochs, 1) + 0.5)
    if with_rate and rates is not None:
        _draw_rates(axes[2], rates, epochs or (int(max(ep)) if ep else None))
    handles = [h for ax in (loss_ax, acc_ax) for h in ax.get_legend_handles_labels()[0]]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9)
    fig.suptitle(title or curves_title(model, dataset))
    return fig


def _whole_epochs() -> Any:
    """Ticks on whole epochs only."""
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _draw_rates(
    ax: Any, rates: tuple[Sequence[float], Sequence[float]], epochs: int | None
) -> None:
    """The rate as a step function: each rate holds from its start to the next."""
    x, y = [float(v) for v in rates[0]], [float(v) for v in rates[1]]
    end = float(epochs) if epochs else (x[-1] + (x[-1] - x[-2] if len(x) > 1 else 1.0))
    ax.step([*x, end], [*y, y[-1]], where="post", color=RATE, lw=1.6)
    positive = [v for v in y if v > 0]
    if positive and max(positive) > 10 * min(positive):
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_title("learning rate (the schedule)", fontsize=10)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(_whole_epochs())
    ax.set_xlim(0, end)


def readout(fig: Figure, columns: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """What the HTML report needs for hover read-outs on a saved :func:`training_curves`
    figure: where each axes sits in the image and the values at every epoch.

    Returns
    -------
    dict
        ``axes``: per axes ``box`` ([left, top, right, bottom] as fractions of the image,
        from its top-left corner) and ``xlim``; ``x``: the epochs; ``xlabel``;
        ``series``: ``label`` and ``values`` (``None`` where not finite) per curve.
    """
    fig.draw_without_rendering()  # the layout engine has placed the axes
    axes = []
    for ax in fig.axes:
        pos = ax.get_position()
        axes.append(
            {
                "box": [round(v, 5) for v in (pos.x0, 1 - pos.y1, pos.x1, 1 - pos.y0)],
                "xlim": [float(v) for v in ax.get_xlim()],
            }
        )
    series = [
        {"label": label, "values": [float(v) if math.isfinite(v) else None for v in values]}
        for key, label, *_ in CURVES
        if (values := columns.get(key)) and any(math.isfinite(v) for v in values)
    ]
    return {
        "xlabel": "epoch",
        "x": [float(v) for v in columns.get("epoch", [])],
        "axes": axes,
        "series": series,
    }
