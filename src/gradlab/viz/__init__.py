"""Pictures: figures for files and notebooks, charts for the terminal, an HTML report.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot
state), so they work headless, in scripts and in Jupyter alike. Training code
never imports this package; plots reach training only as callbacks.
"""
