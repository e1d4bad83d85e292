"""Pictures: figures for files and notebooks, charts for the terminal, an HTML report.

Figures are :class:`gradlab.viz.figure.Figure`, a :class:`matplotlib.figure.Figure`
built without pyplot state, so they work headless and in threads; they display inline
in Jupyter (any front end) and open in a window from a script with ``show()``.
Training code never imports this package; plots reach training only as callbacks.
"""
