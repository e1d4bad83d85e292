"""Gradient descent on a plain function of one or two variables.

The first gradlab tutorial minimises :math:`f(x) = x^2 \\sin x` by repeating

.. math:: x \\leftarrow x - \\mathrm{lr} \\cdot f'(x),
   \\qquad f'(x) = 2x \\sin x + x^2 \\cos x,

and shows that a learning rate that is too small crawls, a good one converges and
one that is too large oscillates or diverges.

The package has three parts:

- :mod:`~gradlab.functions.parse`: the text to a SymPy expression, safely;
- :mod:`~gradlab.functions.function`: :class:`Function`, the expression with its
  derivatives and their NumPy code;
- :mod:`~gradlab.functions.descent`: :func:`minimize`, :func:`compare_rates`,
  :func:`compare_optimizers` and the :class:`Trajectory` of a run with its verdict;
  any update rule of :mod:`gradlab.optim.rules` and any schedule of
  :mod:`gradlab.optim.schedules` drive it (``optimizer="adam"``);
- :mod:`~gradlab.functions.testfunctions`: the classic test surfaces by name
  (``rosenbrock``, ``beale``, ``himmelblau``, ``saddle``, ``ill-conditioned``), each
  with a start, its known minima and default rates.

User input is parsed *safely*: :func:`parse_function` walks the Python syntax tree
of the text against a strict whitelist (numbers, ``x``, ``y``, ``pi``, ``e``, a
few elementary functions, ``+ - * / **`` and ``^``) and builds the SymPy
expression node by node. The text is never given to ``eval``, ``exec``,
``sympify`` or ``parse_expr``.

Examples
--------
>>> f = parse_function("x^2 * sin(x)")
>>> f.derivative_text
'x**2*cos(x) + 2*x*sin(x)'
>>> [t.verdict for t in compare_rates(f, 4.0, [0.001, 0.05, 1.0])]
['too slow', 'converged', 'diverged']
"""

from __future__ import annotations

from gradlab.functions.descent import (
    OSCILLATION_WINDOW,
    Trajectory,
    Verdict,
    compare_optimizers,
    compare_rates,
    minimize,
)
from gradlab.functions.function import Function
from gradlab.functions.parse import MAX_TEXT_LENGTH, parse_function
from gradlab.functions.testfunctions import TEST_FUNCTIONS, TestFunction, test_function

__all__ = [
    "MAX_TEXT_LENGTH",
    "OSCILLATION_WINDOW",
    "TEST_FUNCTIONS",
    "Function",
    "TestFunction",
    "Trajectory",
    "Verdict",
    "compare_optimizers",
    "compare_rates",
    "minimize",
    "parse_function",
    "test_function",
]
