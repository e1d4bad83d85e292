"""One benchmark table: a list of rows, one per path, and the ratios between them.

A row is a plain dict (it goes to JSON as it is)::

    {"job", "path", "seconds", "result", "metric", "note"}

plus flags: ``gradlab`` (the row every ratio is taken against; one per table),
``baseline`` (the tutorial's own code), ``floor`` (what the hardware allows, not a
path). :func:`add_ratios` adds ``ratio``, ``vs_floor`` and ``agrees``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

Row = dict[str, Any]
Metric = Literal["accuracy", "loss"]

#: Two test accuracies agree when they differ by at most this much.
ACCURACY_TOLERANCE = 0.01
#: Two final losses agree when their relative difference is at most this much.
LOSS_TOLERANCE = 1e-6


def row(
    job: str,
    path: str,
    seconds: float,
    result: float | None,
    note: str = "",
    *,
    metric: Metric = "accuracy",
    **flags: Any,
) -> Row:
    """A row of table ``job``: ``path`` took ``seconds`` and ended at ``result``.

    Parameters
    ----------
    result : float or None
        A test accuracy or a final loss (``metric`` says which); None for rows that
        compute nothing comparable (floors, per-iteration timings).
    flags
        ``gradlab=True``, ``baseline=True``, ``floor=True`` and any extra fields.
    """
    return {
        "job": job,
        "path": path,
        "seconds": seconds,
        "result": result,
        "metric": metric,
        "note": note,
        **flags,
    }


def agreement(result: float | None, reference: float | None, metric: Metric) -> str:
    """Whether ``result`` is gradlab's ``reference`` within noise: "yes", "no (...)" or "".

    Accuracies agree within :data:`ACCURACY_TOLERANCE` (absolute; the "no" says by how
    much they differ), losses within :data:`LOSS_TOLERANCE` (relative).
    """
    if result is None or reference is None:
        return ""
    if metric == "accuracy":
        diff = result - reference
        # accuracies are fractions k / n: a difference of exactly the tolerance (0.90
        # against 0.91) must not fail on the last bit of its float64 subtraction
        within = abs(diff) <= ACCURACY_TOLERANCE * (1 + 1e-9)
        return "yes" if within else f"no ({diff:+.3f})"
    rel = (result - reference) / reference if reference else math.inf
    return "yes" if abs(rel) <= LOSS_TOLERANCE else f"no ({rel:+.2%})"


def add_ratios(rows: list[Row]) -> None:
    """Add to every row, in place:

    ``ratio``
        its seconds over the ``gradlab`` row's seconds (when the table has one);
    ``vs_floor``
        its seconds over the first ``floor`` row's seconds (paths only, not floors);
    ``agrees``
        :func:`agreement` of its result with the ``gradlab`` row's.
    """
    floor = next((r for r in rows if r.get("floor")), None)
    if floor is not None and floor["seconds"] > 0:
        for r in rows:
            if not r.get("floor"):
                r["vs_floor"] = r["seconds"] / floor["seconds"]
    ref = next((r for r in rows if r.get("gradlab")), None)
    if ref is None:
        return
    for r in rows:
        r["ratio"] = r["seconds"] / ref["seconds"] if ref["seconds"] > 0 else math.nan
        r["agrees"] = agreement(r["result"], ref["result"], r.get("metric", "accuracy"))
