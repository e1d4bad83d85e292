"""A parsed function: its SymPy expression, its derivatives, and NumPy code for both.

:class:`Function` holds what :func:`~gradlab.functions.parse_function` built: the
expression in the real symbols ``x`` (and ``y``), its partial derivatives, and
NumPy callables for the value and the gradient, made once with ``sympy.lambdify``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import sympy  # type: ignore[import-untyped]  # SymPy ships no type information

from gradlab.errors import UsageError

__all__ = ["VARIABLES", "FloatArray", "Function", "X", "Y"]

FloatArray = npt.NDArray[np.float64]

#: The variables, real symbols, so that SymPy simplifies ``sqrt(x**2)`` to ``abs(x)``.
X = sympy.Symbol("x", real=True)
Y = sympy.Symbol("y", real=True)
VARIABLES: dict[str, sympy.Symbol] = {"x": X, "y": Y}


def _numeric(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with exact numbers too large for float64 arithmetic turned into floats.

    NumPy cannot multiply a float array by a Python int beyond 2**1024; as a
    SymPy ``Float`` such a number is printed as a float literal (``inf`` if
    out of range), which NumPy handles.
    """
    limit = 2**53
    big = {
        r: sympy.Float(r)
        for r in expr.atoms(sympy.Rational)
        if abs(int(r.p)) > limit or int(r.q) > limit
    }
    return cast(sympy.Expr, expr.xreplace(big)) if big else expr


@dataclass(frozen=True)
class Function:
    """A differentiable function of ``x`` or of ``x`` and ``y``.

    Build one with :func:`~gradlab.functions.parse_function`. The NumPy callables for the value and
    the gradient are made once (``sympy.lambdify``) and cached.

    Parameters
    ----------
    text : str
        The formula as the user wrote it.
    expr : sympy.Expr
        The formula as a SymPy expression in the real symbols ``x`` (and ``y``).
    variables : tuple of str
        ``("x",)`` or ``("x", "y")``, in that order.

    Attributes
    ----------
    gradient_exprs : tuple of sympy.Expr
        The partial derivatives, one per variable, in the order of ``variables``.
    """

    text: str
    expr: sympy.Expr
    variables: tuple[str, ...]
    gradient_exprs: tuple[sympy.Expr, ...] = field(init=False)
    _value_fn: Callable[..., Any] = field(init=False, repr=False, compare=False)
    _gradient_fn: Callable[..., Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.variables not in (("x",), ("x", "y")):
            raise UsageError(f"variables must be ('x',) or ('x', 'y'), got {self.variables!r}")
        symbols = tuple(VARIABLES[name] for name in self.variables)
        self._check_real(self.expr, None)
        grads = tuple(cast(sympy.Expr, sympy.diff(self.expr, s)) for s in symbols)
        for name, grad in zip(self.variables, grads, strict=True):
            self._check_real(grad, name)
        object.__setattr__(self, "gradient_exprs", grads)
        self._compile()

    def _check_real(self, expr: sympy.Expr, variable: str | None) -> None:
        """Refuse ``expr`` (f, or its derivative in ``variable``) if it is not real.

        A complex value would otherwise reach NumPy and be cut to its real part,
        or make the descent step complex.
        """
        over = f"real {self.variables_text}"
        if variable is None:
            if expr.has(sympy.I):
                raise UsageError(
                    f"{self.text!r} is complex ({expr} holds I, the imaginary unit); "
                    "gradlab minimises real functions"
                )
            if expr.is_extended_real is False:
                raise UsageError(
                    f"{self.text!r} has no real value for any {over}; "
                    "gradlab minimises real functions"
                )
        elif expr.has(sympy.I):
            raise UsageError(
                f"{self.text!r} is not a real function of {over}: its derivative "
                f"df/d{variable} = {expr} is complex (it holds I, the imaginary unit)",
                hint="A negative number to a variable power, such as (-1)**x, is real only "
                "at whole-number exponents.",
            )

    def _compile(self) -> None:
        symbols = [VARIABLES[name] for name in self.variables]
        # NumPy's namespace as a module object, not the name "numpy": for the name,
        # SymPy runs `from numpy import *`, which imports numpy.testing, numpy.f2py
        # and numpy.ma (a tenth of a second of a command's start) for nothing
        value_fn = sympy.lambdify(symbols, _numeric(self.expr), modules=[np])
        gradient_fn = sympy.lambdify(
            symbols, [_numeric(g) for g in self.gradient_exprs], modules=[np]
        )
        object.__setattr__(self, "_value_fn", value_fn)
        object.__setattr__(self, "_gradient_fn", gradient_fn)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_value_fn"], state["_gradient_fn"]  # generated code does not pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._compile()

    def __str__(self) -> str:
        return self.text

    @property
    def n_vars(self) -> int:
        """Number of variables: 1 or 2."""
        return len(self.variables)

    @property
    def variables_text(self) -> str:
        """The variables in words: ``"x"`` or ``"x and y"``."""
        return " and ".join(self.variables)

    @property
    def derivative_text(self) -> str:
        """The derivative as readable text.

        ``"x**2*cos(x) + 2*x*sin(x)"`` for one variable; for two,
        ``"df/dx = ..., df/dy = ..."``.
        """
        if self.n_vars == 1:
            return str(self.gradient_exprs[0])
        return ", ".join(
            f"df/d{name} = {grad}"
            for name, grad in zip(self.variables, self.gradient_exprs, strict=True)
        )

    def _columns(self, points: npt.ArrayLike, what: str) -> tuple[FloatArray, list[FloatArray]]:
        try:
            array = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{what} must be an array of numbers: {exc}") from None
        if self.n_vars == 1 and array.ndim == 0:
            array = array.reshape(1)
        if array.ndim == 0 or array.shape[-1] != self.n_vars:
            raise UsageError(
                f"{what} must have shape (..., {self.n_vars}) for a function of "
                f"{self.variables_text}, got shape {array.shape}"
            )
        return array, [array[..., i] for i in range(self.n_vars)]

    def value(self, points: npt.ArrayLike) -> FloatArray:
        """Evaluate the function at many points at once.

        Parameters
        ----------
        points : array_like, shape (..., n_vars)
            The points; the last axis holds the variables in the order of
            ``variables``. A scalar is accepted for a one-variable function.

        Returns
        -------
        numpy.ndarray, shape (...)
            ``f`` at each point (float64); ``nan`` or ``inf`` outside the real
            domain (e.g. ``log`` of a negative number), without a warning.
        """
        array, columns = self._columns(points, "points")
        with np.errstate(all="ignore"):
            result = _real(self._value_fn(*columns))
        return np.array(np.broadcast_to(result, array.shape[:-1]), dtype=np.float64)

    def gradient(self, point: npt.ArrayLike) -> FloatArray:
        """The gradient at one point (or at many).

        Parameters
        ----------
        point : array_like, shape (n_vars,) or (..., n_vars)
            A point, or points along leading axes.

        Returns
        -------
        numpy.ndarray, shape (n_vars,) or (..., n_vars)
            The partial derivatives in the order of ``variables`` (float64);
            ``nan`` outside the real domain.
        """
        array, columns = self._columns(point, "point")
        with np.errstate(all="ignore"):
            parts = self._gradient_fn(*columns)
        shape = array.shape[:-1]
        return np.stack([np.broadcast_to(_real(p), shape) for p in parts], -1)


def _real(values: Any) -> FloatArray:
    """``values`` as float64, with ``nan`` wherever a value is complex.

    Only a value that is real goes through: casting a complex array to float
    would keep its real part and drop the rest without a word.
    """
    array = np.asarray(values)
    if np.iscomplexobj(array):
        with np.errstate(invalid="ignore"):
            return np.where(array.imag == 0, array.real, np.nan).astype(np.float64)
    return array.astype(np.float64)
