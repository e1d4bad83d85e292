"""Gradient descent on a plain function of one or two variables.

The first gradlab tutorial minimises :math:`f(x) = x^2 \\sin x` by repeating

.. math:: x \\leftarrow x - \\mathrm{lr} \\cdot f'(x),
   \\qquad f'(x) = 2x \\sin x + x^2 \\cos x,

and shows that a learning rate that is too small crawls, a good one converges and
one that is too large oscillates or diverges.

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

import ast
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import sympy  # type: ignore[import-untyped]  # SymPy ships no type information

from gradlab.errors import UsageError

__all__ = [
    "MAX_TEXT_LENGTH",
    "OSCILLATION_WINDOW",
    "Function",
    "Trajectory",
    "Verdict",
    "compare_rates",
    "minimize",
    "parse_function",
]

Verdict = Literal["converged", "too slow", "oscillating", "diverging", "diverged"]
FloatArray = npt.NDArray[np.float64]

#: Longest function text :func:`parse_function` accepts, in characters.
MAX_TEXT_LENGTH = 500
#: Number of final updates :class:`Trajectory` inspects to call a run "oscillating"
#: or "diverging".
OSCILLATION_WINDOW = 20

# Numeric exponents are bounded so that SymPy's exact arithmetic stays fast:
# ``x**(10**10)`` or ``9**9**9`` would otherwise hang the parser.
_MAX_SYMBOLIC_POWER = 1000  # no variable ends up raised to more than this
_MAX_INTEGER_BITS = 100_000  # no exact number ends up larger than about 2**this

_X = sympy.Symbol("x", real=True)
_Y = sympy.Symbol("y", real=True)
_VARIABLES: dict[str, sympy.Symbol] = {"x": _X, "y": _Y}
_CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "e": sympy.E}
_FUNCTIONS: dict[str, Callable[[sympy.Expr], sympy.Expr]] = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "asin": sympy.asin,
    "acos": sympy.acos,
    "atan": sympy.atan,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "abs": sympy.Abs,
}
_ALLOWED = ", ".join([*_VARIABLES, *_CONSTANTS, *_FUNCTIONS])

_BINARY: dict[type[ast.operator], Callable[[sympy.Expr, sympy.Expr], sympy.Expr]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.Invert: "~",
    ast.Not: "not",
}
_NODE_KINDS: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "'and' and 'or' are not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.NamedExpr: "assignments are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
    ast.Slice: "slices are not allowed",
}


# --------------------------------------------------------------------------- parsing


def parse_function(text: str) -> Function:
    """Parse a formula in ``x`` (and optionally ``y``) into a :class:`Function`.

    Parameters
    ----------
    text : str
        The formula, e.g. ``"x**2 * sin(x)"`` or ``"x^2 + 3*y^2"``. Allowed:
        int and float literals; the variables ``x`` and ``y``; the constants
        ``pi`` and ``e``; the functions ``sin cos tan asin acos atan sinh cosh
        tanh exp log sqrt abs``, each called with exactly one argument; the
        operators ``+ - * / **``, unary ``+ -`` and parentheses. ``^`` means
        power (``x^2`` is ``x**2``, with the precedence of ``**``).

    Returns
    -------
    Function
        The parsed function. Its variables are ``("x",)`` or ``("x", "y")``.

    Raises
    ------
    UsageError
        If the text is empty, longer than :data:`MAX_TEXT_LENGTH` characters, not
        valid syntax, uses anything outside the whitelist (the message names the
        offending piece), does not depend on any variable, uses ``y`` without
        ``x``, or is undefined (e.g. divides by zero).

    Notes
    -----
    The text is never evaluated: its syntax tree is checked node by node and
    each allowed node is mapped to the matching SymPy object.
    """
    if not isinstance(text, str):
        raise UsageError(f"a function must be given as text, got {type(text).__name__}")
    source = text.strip()
    if not source:
        raise UsageError("the function is empty; write a formula in x, e.g. 'x**2 * sin(x)'")
    if len(source) > MAX_TEXT_LENGTH:
        raise UsageError(
            f"the function is {len(source)} characters long; at most {MAX_TEXT_LENGTH} are allowed"
        )
    for char in source:
        if not char.isprintable() and char != "\t":
            raise UsageError(
                f"the function {source!r} contains the control character {char!r}; "
                "write it on one line"
            )
    expr = _Builder(source).build()
    symbols = expr.free_symbols
    if not symbols:
        raise UsageError(
            f"{source!r} does not depend on x or y (it simplifies to {expr}); "
            "a function to minimise needs a variable"
        )
    if symbols == {_Y}:
        raise UsageError(f"{source!r} uses y but not x; write a function of one variable in x")
    variables = ("x",) if symbols == {_X} else ("x", "y")
    return Function(text=source, expr=expr, variables=variables)


class _Builder:
    """Map a whitelisted Python syntax tree onto a SymPy expression.

    ``^`` is rewritten to ``**`` before parsing (Python's ``^`` binds more
    loosely than ``+``); ``_back`` maps positions in the rewritten text back to
    the user's text, so messages quote what the user wrote.
    """

    def __init__(self, original: str) -> None:
        self.original = original
        self.source = original.replace("^", "**")
        back: list[int] = []
        for i, char in enumerate(original):
            back.extend([i, i] if char == "^" else [i])
        back.append(len(original))
        self._back = back

    def build(self) -> sympy.Expr:
        try:
            tree = ast.parse(self.source, mode="eval")
        except SyntaxError as exc:
            raise self._syntax_error(exc) from None
        except (ValueError, RecursionError, MemoryError) as exc:
            raise UsageError(f"cannot parse {self.original!r}: {exc}") from None
        try:
            expr = self._visit(tree.body)
        except RecursionError:
            raise UsageError(f"cannot parse {self.original!r}: it is nested too deeply") from None
        if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise UsageError(
                f"{self.original!r} is undefined everywhere (it simplifies to {expr}); "
                "is there a division by zero or a log(0)?"
            )
        return expr

    # ---------------------------------------------------------------- helpers

    def _syntax_error(self, exc: SyntaxError) -> UsageError:
        offset = exc.offset
        if offset is None or offset < 1 or offset > len(self.source):
            where = f"at column {len(self.original) + 1} (the end)"
        else:
            where = f"at column {self._back[offset - 1] + 1}"
        hint = None
        if "decimal literal" in (exc.msg or ""):
            hint = "Write products with '*', e.g. 2*x instead of 2x."
        return UsageError(f"cannot parse {self.original!r}: {exc.msg} {where}", hint=hint)

    def _segment(self, node: ast.AST) -> str:
        """The user's text of ``node`` (the whole text if positions are missing)."""
        start = getattr(node, "col_offset", None)
        end = getattr(node, "end_col_offset", None)
        if start is None or end is None:
            return self.original
        encoded = self.source.encode("utf-8")
        start_char = len(encoded[:start].decode("utf-8", errors="ignore"))
        end_char = len(encoded[:end].decode("utf-8", errors="ignore"))
        return self.original[self._back[start_char] : self._back[end_char]]

    def _refuse(self, node: ast.AST, message: str) -> UsageError:
        segment = self._segment(node)
        if segment == self.original:
            return UsageError(f"{message}: {segment!r}")
        return UsageError(f"{message}: {segment!r} in {self.original!r}")

    # ---------------------------------------------------------------- visitors

    def _visit(self, node: ast.AST) -> sympy.Expr:
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        problem = _NODE_KINDS.get(type(node), f"{type(node).__name__} is not allowed")
        raise self._refuse(node, problem)

    def _constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, complex):
                raise self._refuse(node, "complex numbers are not allowed")
            if isinstance(value, str | bytes):
                raise self._refuse(node, "strings are not allowed")
            raise self._refuse(node, f"the constant {value!r} is not allowed")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self._refuse(node, "the number is too large")
            return cast(sympy.Expr, sympy.Float(value))
        return cast(sympy.Expr, sympy.Integer(value))

    def _name(self, node: ast.Name) -> sympy.Expr:
        if node.id in _VARIABLES:
            return _VARIABLES[node.id]
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in _FUNCTIONS:
            raise self._refuse(node, f"the function {node.id} must be called, e.g. {node.id}(x)")
        raise UsageError(
            f"unknown name {node.id!r} in {self.original!r}; allowed: {_ALLOWED} "
            "(the variables are x and y)"
        )

    def _binary(self, node: ast.BinOp) -> sympy.Expr:
        op = type(node.op)
        if op is not ast.Pow and op not in _BINARY:
            symbol = _OPERATOR_SYMBOLS.get(op, op.__name__)
            raise self._refuse(node, f"the operator {symbol!r} is not allowed")
        left = self._visit(node.left)
        right = self._visit(node.right)
        if op is ast.Pow:
            self._check_power(node, left, right)
            return cast(sympy.Expr, left**right)
        return _BINARY[op](left, right)

    def _check_power(self, node: ast.AST, base: sympy.Expr, exponent: sympy.Expr) -> None:
        """Refuse powers whose exact evaluation would be huge (``9**9**9``, ``x**10**9``)."""
        if not exponent.is_Number:
            return
        size = abs(float(exponent))
        powers = [
            abs(float(p.exp)) for p in base.atoms(sympy.Pow) if p.exp.is_Number
        ]  # e.g. (x**3)**4 becomes x**12
        bits = [
            max(int(r.p).bit_length(), int(r.q).bit_length()) for r in base.atoms(sympy.Rational)
        ]
        if size * max([1.0, *powers]) > _MAX_SYMBOLIC_POWER or size * max([1, *bits]) > (
            _MAX_INTEGER_BITS
        ):
            raise self._refuse(
                node,
                f"the exponent is too large (powers are limited to {_MAX_SYMBOLIC_POWER})",
            )

    def _unary(self, node: ast.UnaryOp) -> sympy.Expr:
        if isinstance(node.op, ast.USub):
            return cast(sympy.Expr, -self._visit(node.operand))
        if isinstance(node.op, ast.UAdd):
            return self._visit(node.operand)
        symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
        raise self._refuse(node, f"the operator {symbol!r} is not allowed")

    def _call(self, node: ast.Call) -> sympy.Expr:
        func = node.func
        if isinstance(func, ast.Attribute):
            raise self._refuse(node, "function calls on attributes are not allowed")
        if not isinstance(func, ast.Name):
            raise self._refuse(node, "calls of anything but a named function are not allowed")
        name = func.id
        if name not in _FUNCTIONS:
            if name in _VARIABLES or name in _CONSTANTS:
                raise self._refuse(
                    node, f"{name} is not a function (write {name}*(...) for a product)"
                )
            raise UsageError(f"unknown function {name!r} in {self.original!r}; allowed: {_ALLOWED}")
        if node.keywords:
            raise self._refuse(node, f"keyword arguments are not allowed ({name} takes one value)")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self._refuse(node, "starred arguments are not allowed")
        if len(node.args) != 1:
            raise self._refuse(node, f"{name} takes exactly one argument, got {len(node.args)}")
        return _FUNCTIONS[name](self._visit(node.args[0]))


# --------------------------------------------------------------------------- functions


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

    Build one with :func:`parse_function`. The NumPy callables for the value and
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
        symbols = tuple(_VARIABLES[name] for name in self.variables)
        grads = tuple(cast(sympy.Expr, sympy.diff(self.expr, s)) for s in symbols)
        object.__setattr__(self, "gradient_exprs", grads)
        self._compile()

    def _compile(self) -> None:
        symbols = [_VARIABLES[name] for name in self.variables]
        value_fn = sympy.lambdify(symbols, _numeric(self.expr), modules="numpy")
        gradient_fn = sympy.lambdify(
            symbols, [_numeric(g) for g in self.gradient_exprs], modules="numpy"
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
                f"{_names(self.variables)}, got shape {array.shape}"
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
            ``f`` at each point (float64); ``nan`` or ``inf`` outside the domain
            (e.g. ``log`` of a negative number), without a warning.
        """
        array, columns = self._columns(points, "points")
        with np.errstate(all="ignore"):
            result = self._value_fn(*columns)
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
            The partial derivatives in the order of ``variables`` (float64).
        """
        array, columns = self._columns(point, "point")
        with np.errstate(all="ignore"):
            parts = self._gradient_fn(*columns)
        shape = array.shape[:-1]
        return np.stack(
            [np.broadcast_to(np.asarray(p, dtype=np.float64), shape) for p in parts], -1
        )


def _names(variables: Sequence[str]) -> str:
    return " and ".join(variables)


# --------------------------------------------------------------------------- descent


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The path of one gradient-descent run, and what became of it.

    Parameters
    ----------
    function : Function
        The function minimised.
    lr : float
        The learning rate.
    points : numpy.ndarray, shape (k + 1, n_vars)
        The iterates, the start included; only finite points are kept.
    values : numpy.ndarray, shape (k + 1,)
        ``f`` at each point.
    gradients : numpy.ndarray, shape (k + 1, n_vars)
        The gradient at each point.
    verdict : {"converged", "too slow", "oscillating", "diverging", "diverged"}
        What happened, by these rules, applied in order:

        1. ``"diverged"`` if the run stopped because an iterate, its value or its
           gradient became non-finite, an iterate exceeded ``explode`` in
           absolute value, or ``|f|`` exceeded ``explode * max(1, |f(x0)|)``.
        2. ``"converged"`` if the run stopped because an update
           ``lr * grad f(x)`` was shorter (Euclidean norm) than ``tol``.
        3. ``"diverging"`` if the steps ran out, the run oscillates (rule 4),
           each of the last :data:`OSCILLATION_WINDOW` updates is longer than the
           one before, and the last is longer than every update before the
           window: the rate is past the stable limit and more steps would blow
           up, though nothing has exceeded ``explode`` yet.
        4. ``"oscillating"`` if the steps ran out and, over the last
           :data:`OSCILLATION_WINDOW` updates, some coordinate's update changed
           sign on more than half of the consecutive pairs: the iterate bounces
           across a minimum (or between basins) instead of settling.
        5. ``"too slow"`` otherwise: the steps ran out while the iterate was
           still creeping in one direction.
    converged_at : int or None
        The step (counted from 1) whose update was shorter than ``tol``.
    diverged_at : int or None
        The step (counted from 1) that went bad; that step's point is not kept,
        so ``steps_taken == diverged_at - 1``.
    steps : int
        The step budget the run was given.
    tol : float
        The convergence tolerance the run was given.
    """

    function: Function
    lr: float
    points: FloatArray
    values: FloatArray
    gradients: FloatArray
    verdict: Verdict
    converged_at: int | None = None
    diverged_at: int | None = None
    steps: int = 0
    tol: float = 0.0

    @property
    def x_final(self) -> FloatArray:
        """The last (finite) iterate, shape (n_vars,)."""
        return cast(FloatArray, self.points[-1])

    @property
    def f_final(self) -> float:
        """``f`` at the last iterate."""
        return float(self.values[-1])

    @property
    def steps_taken(self) -> int:
        """Number of updates kept: ``len(points) - 1``."""
        return len(self.points) - 1


def _check_positive_real(name: str, value: object, *, allow_zero: bool = False) -> float:
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{name} must be a finite number {bound}, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise UsageError(f"{name} must be a finite number {bound}, got {number!r}")
    return number


def _check_steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or int(steps) < 1:
        raise UsageError(f"steps must be a positive integer, got {steps!r}")
    return int(steps)


def _check_start(function: Function, x0: float | Sequence[float] | npt.ArrayLike) -> FloatArray:
    try:
        start = np.array(x0, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"x0 must be a number or a sequence of numbers, got {x0!r}") from None
    if start.ndim == 0:
        start = start.reshape(1)
    if start.ndim != 1 or start.shape[0] != function.n_vars:
        count = start.shape[0] if start.ndim == 1 else start.size
        raise UsageError(
            f"x0 has {count} value(s) but {function.text!r} is a function of "
            f"{_names(function.variables)}: give {function.n_vars} starting value(s), "
            f"one per variable ({', '.join(function.variables)})"
        )
    if not np.all(np.isfinite(start)):
        raise UsageError(f"x0 must be finite, got {start.tolist()}")
    return start


def _verdict_of_run(points: FloatArray) -> Verdict:
    """``"diverging"``, ``"oscillating"`` or ``"too slow"`` for a run that used all its steps."""
    updates = np.diff(points[-(OSCILLATION_WINDOW + 1) :], axis=0)  # (w, n_vars)
    if len(updates) < 3:
        return "too slow"
    flips = (updates[1:] * updates[:-1]) < 0  # (w - 1, n_vars)
    if not bool(np.any(flips.mean(axis=0) > 0.5)):
        return "too slow"
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)  # every update, (k,)
    window, before = lengths[-len(updates) :], lengths[: -len(updates)]
    # a bounded but chaotic bounce (x**2*sin(x) at lr 0.1) also has long runs of
    # growing bounces, then falls back: only a bounce longer than any before is escaping
    record = before.size == 0 or window[-1] > before.max()
    growing = bool(np.all(window[1:] > window[:-1])) and record
    return "diverging" if growing else "oscillating"


def minimize(
    f: Function | str,
    x0: float | Sequence[float] | FloatArray,
    *,
    lr: float,
    steps: int = 200,
    tol: float = 1e-8,
    explode: float = 1e12,
) -> Trajectory:
    """Minimise ``f`` by plain gradient descent: ``x <- x - lr * grad f(x)``.

    Parameters
    ----------
    f : Function or str
        The function, or its text for :func:`parse_function`.
    x0 : float or sequence of float, length n_vars
        The starting point.
    lr : float
        The learning rate, finite and > 0.
    steps : int, default 200
        The most updates to make (> 0).
    tol : float, default 1e-8
        Stop, converged, after an update shorter than this (>= 0; 0 never stops).
    explode : float, default 1e12
        Stop, diverged, when ``|x|`` exceeds this or ``|f|`` exceeds
        ``explode * max(1, |f(x0)|)``.

    Returns
    -------
    Trajectory
        The path and its verdict. Divergence is a result, not an error, so that
        runs with different rates can be compared.

    Raises
    ------
    UsageError
        For a bad parameter (the message names it and its value), an ``x0``
        whose length is not the number of variables, or an ``x0`` at which
        ``f`` or its gradient is not finite.
    """
    function = parse_function(f) if isinstance(f, str) else f
    rate = _check_positive_real("lr", lr)
    budget = _check_steps(steps)
    tolerance = _check_positive_real("tol", tol, allow_zero=True)
    limit = _check_positive_real("explode", explode)
    x = _check_start(function, x0)

    fx = float(function.value(x))
    grad = function.gradient(x)
    if not (math.isfinite(fx) and np.all(np.isfinite(grad))):
        raise UsageError(
            f"{function.text!r} or its gradient is not finite at x0={x.tolist()} "
            f"(f = {fx}, gradient = {grad.tolist()}); start inside its domain"
        )
    f_limit = limit * max(1.0, abs(fx))
    points, values, gradients = [x], [fx], [grad]
    converged_at: int | None = None
    diverged_at: int | None = None
    for step in range(1, budget + 1):
        with np.errstate(all="ignore"):
            update = rate * grad
            x = x - update
        if not np.all(np.isfinite(x)) or float(np.max(np.abs(x))) > limit:
            diverged_at = step
            break
        fx = float(function.value(x))
        grad = function.gradient(x)
        if not (math.isfinite(fx) and np.all(np.isfinite(grad))) or abs(fx) > f_limit:
            diverged_at = step
            break
        points.append(x)
        values.append(fx)
        gradients.append(grad)
        if float(np.linalg.norm(update)) < tolerance:
            converged_at = step
            break

    path = np.array(points)
    verdict: Verdict
    if diverged_at is not None:
        verdict = "diverged"
    elif converged_at is not None:
        verdict = "converged"
    else:
        verdict = _verdict_of_run(path)
    arrays = [path, np.array(values), np.array(gradients)]
    for array in arrays:
        array.setflags(write=False)
    return Trajectory(
        function=function,
        lr=rate,
        points=arrays[0],
        values=arrays[1],
        gradients=arrays[2],
        verdict=verdict,
        converged_at=converged_at,
        diverged_at=diverged_at,
        steps=budget,
        tol=tolerance,
    )


def compare_rates(
    f: Function | str,
    x0: float | Sequence[float] | FloatArray,
    lrs: Sequence[float],
    *,
    steps: int = 200,
    tol: float = 1e-8,
    explode: float = 1e12,
) -> list[Trajectory]:
    """Run :func:`minimize` from the same start once per learning rate.

    Parameters
    ----------
    f : Function or str
        The function, or its text (parsed once).
    x0 : float or sequence of float, length n_vars
        The common starting point.
    lrs : sequence of float, length m
        The learning rates to compare (at least one).
    steps, tol, explode
        As for :func:`minimize`.

    Returns
    -------
    list of Trajectory, length m
        One trajectory per rate, in the order of ``lrs``.

    Raises
    ------
    UsageError
        If ``lrs`` is empty or any parameter is bad (see :func:`minimize`).
    """
    function = parse_function(f) if isinstance(f, str) else f
    rates = list(lrs)
    if not rates:
        raise UsageError("lrs is empty; give at least one learning rate")
    for rate in rates:
        _check_positive_real("lr", rate)
    return [
        minimize(function, x0, lr=rate, steps=steps, tol=tol, explode=explode) for rate in rates
    ]
