"""Faithful re-implementations of the tutorials' own code, used as benchmark baselines.

Modules
-------
tutorial_linreg
    The per-point Python loop of the linear-regression tutorials (``step_gradient``).
tutorial_classify
    d2l's Fashion-MNIST pipeline: per-sample PIL -> tensor, ``DataLoader``, ``train_ch3``.
sklearn_rows
    scikit-learn estimators doing the same jobs, for comparison rows.

These are deliberately *not* optimised: they measure what the tutorials' idioms cost.
``tutorial_classify`` imports PyTorch, ``sklearn_rows`` scikit-learn: import them only when
the benchmark runs.
"""
