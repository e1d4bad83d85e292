"""Experiments on the models: engines and descent methods side by side, the tutorial's runs
reproduced, the learning-rate range test.

The public face of the jobs that the ``gradlab compare`` and ``gradlab lr-find`` commands
run, for notebooks and scripts:

- :func:`compare` fits one problem with several engines, descent methods or update rules
  from the same start and with the same shuffles, times each fit and returns a
  :class:`Comparison` (one :class:`Row` per run; ``.plot()`` draws the loss curves);
- :func:`tutorial_quadratic_data`, :func:`tutorial_numpy`, :func:`tutorial_torch` and
  :func:`tutorial_tensorflow` reproduce the tutorial that fits ``y = w x^2 + b`` in
  NumPy, PyTorch and TensorFlow, with its seeds and its random-number order;
- :func:`lr_range_test` runs the learning-rate range test of a classifier and returns a
  :class:`RangeTest` with the suggested rate (``.plot()`` draws the curve).

Examples
--------
>>> from gradlab.experiments import compare
>>> result = compare("quadratic", engines=["numpy"], methods=["batch", "sgd"], epochs=20)
>>> [row.method for row in result.rows]
['batch', 'sgd']
"""

from __future__ import annotations

from gradlab.jobs.compare import (
    PROBLEMS,
    Comparison,
    Row,
    compare,
    tutorial_numpy,
    tutorial_quadratic_data,
    tutorial_tensorflow,
    tutorial_torch,
)
from gradlab.jobs.lr_find import RangeTest, lr_range_test

__all__ = [
    "PROBLEMS",
    "Comparison",
    "RangeTest",
    "Row",
    "compare",
    "lr_range_test",
    "tutorial_numpy",
    "tutorial_quadratic_data",
    "tutorial_tensorflow",
    "tutorial_torch",
]
