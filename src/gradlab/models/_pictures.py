"""What the estimators' picture methods return."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gradlab.viz.figure import Figure


def returned(fig: Figure, ax: Axes | None) -> Any:
    """A picture method's value: its own new figure, or, drawn into the caller's ``ax``,
    that Axes, as matplotlib's and pandas' plotting functions return it. A notebook cell
    that ends with the call then shows the caller's figure once (pyplot's figures show
    themselves), not a second time as the cell's value."""
    return fig if ax is None else ax
