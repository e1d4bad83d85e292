"""Figures that show themselves wherever the learner is.

gradlab builds its figures without pyplot (no global state: safe headless, in threads
and in tests). A bare :class:`matplotlib.figure.Figure` made that way prints as
``<Figure size 640x480 with 1 Axes>`` in Jupyter, and its ``show()`` raises outside
pyplot. :class:`Figure` adds the two missing pieces:

- **Notebooks** (classic Jupyter, JupyterLab, VS Code, Colab: every front end of an
  IPython kernel): IPython's display protocol. A figure left as the last expression of a
  cell, or passed to ``display()``, is sent as a PNG (``_repr_mimebundle_``), with its
  text form beside it for consoles that show only text. No pyplot import is needed.
- **Scripts**: :meth:`Figure.show` opens a window when matplotlib runs an interactive
  backend (the figure is then handed to pyplot's figure manager, which owns windows),
  displays the figure inline when called inside a notebook, and does nothing (no error,
  no warning) on a headless machine, where the backend is Agg.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Container
from typing import Any

from matplotlib.figure import Figure as _MplFigure

from gradlab.viz.notebook import in_notebook

__all__ = ["Figure"]

PNG = "image/png"
TEXT = "text/plain"


class Figure(_MplFigure):
    """A matplotlib figure that displays inline in notebooks and opens in a window.

    Everything else is :class:`matplotlib.figure.Figure`: add axes, save with
    ``savefig`` (or :func:`gradlab.viz.save.save_figure`), adjust as usual.

    Attributes
    ----------
    repr_dpi : float
        Resolution of the PNG sent to a notebook (a 6.4 x 4.2 inch figure is then
        640 x 420 pixels, the size matplotlib's own inline backend uses).
    """

    repr_dpi: float = 100.0

    def to_png(self, dpi: float | None = None) -> bytes:
        """The figure as PNG bytes (``repr_dpi`` unless ``dpi`` is given)."""
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=dpi or self.repr_dpi)
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        """IPython's PNG hook: the figure as PNG bytes."""
        return self.to_png()

    def _repr_mimebundle_(
        self,
        include: Container[str] | None = None,
        exclude: Container[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, str]:
        """IPython's display hook: ``{"image/png": base64 PNG, "text/plain": repr}``.

        A MIME type left out by ``include`` or named in ``exclude`` is not rendered.
        """

        def wanted(mime: str) -> bool:
            return (include is None or mime in include) and not (exclude and mime in exclude)

        bundle: dict[str, str] = {}
        if wanted(PNG):
            bundle[PNG] = base64.b64encode(self.to_png()).decode("ascii")
        if wanted(TEXT):
            bundle[TEXT] = repr(self)
        return bundle

    def show(self, warn: bool = True, *, block: bool | None = None) -> None:
        """Show the figure: inline in a notebook, in a window from a script.

        Parameters
        ----------
        warn : bool, default True
            Accepted for compatibility with :meth:`matplotlib.figure.Figure.show`;
            gradlab never warns here.
        block : bool, optional
            Passed to :func:`matplotlib.pyplot.show`: ``True`` waits until the window
            is closed (the default in a plain script), ``False`` returns at once.

        Notes
        -----
        In an IPython kernel the figure is displayed in the output cell. Otherwise, with
        an interactive backend (TkAgg, QtAgg, MacOSX, ...), the figure is registered with
        pyplot and ``pyplot.show`` runs the window's event loop (any other open pyplot
        figures appear too, as with ``pyplot.show``). With a non-interactive backend
        (Agg on a machine without a display, or PDF, SVG, ...) there is no window to
        open and the call returns quietly; save the figure instead.
        """
        if in_notebook():
            from IPython.display import display

            display(self)  # type: ignore[no-untyped-call]
            return
        import matplotlib
        import matplotlib.pyplot as plt

        if not is_interactive_backend(matplotlib.get_backend()):
            return
        from matplotlib._pylab_helpers import Gcf

        manager = self.canvas.manager
        if manager is not None and manager not in Gcf.get_all_fig_managers():
            # its window was closed: pyplot forgot it, so let pyplot adopt it afresh
            self.canvas.manager = None
        plt.figure(self)
        plt.show(block=block)


def is_interactive_backend(backend: str) -> bool:
    """True unless ``backend`` is one of matplotlib's file-only backends (Agg, PDF, ...)."""
    import matplotlib.backends
    from matplotlib import rcsetup

    backends: Any = matplotlib.backends
    if hasattr(backends, "backend_registry"):
        registry = backends.backend_registry
        headless = registry.list_builtin(backends.BackendFilter.NON_INTERACTIVE)
    else:  # matplotlib < 3.9
        headless = getattr(rcsetup, "non_interactive_bk")  # noqa: B009
    return backend.lower() not in {b.lower() for b in headless}
