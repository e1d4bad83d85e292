"""Safe parsing of a formula in ``x`` (and ``y``) into a :class:`~gradlab.functions.Function`.

:func:`parse_function` walks the Python syntax tree of the text against a strict
whitelist (numbers, ``x``, ``y``, ``pi``, ``e``, a few elementary functions,
``+ - * / **`` and ``^``) and builds the SymPy expression node by node. The text
is never given to ``eval``, ``exec``, ``sympify`` or ``parse_expr``.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from typing import cast

import numpy as np
import sympy  # type: ignore[import-untyped]  # SymPy ships no type information

from gradlab.errors import UsageError
from gradlab.functions.function import VARIABLES, Function, X, Y

__all__ = ["MAX_DEPTH", "MAX_DIGITS", "MAX_TEXT_LENGTH", "parse_function"]


#: Longest function text :func:`parse_function` accepts, in characters.
MAX_TEXT_LENGTH = 500

#: What Python reads as the end of a line (``str.splitlines``).
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")

#: Deepest nesting :func:`parse_function` accepts: each call, power, unary sign or
#: change between sums and products is a level (``x + y + z`` is one). SymPy
#: differentiates and prints recursively, some 7 Python frames a level, and its
#: cost grows fast with depth; no formula one would minimise by hand comes close.
MAX_DEPTH = 30
#: Most decimal digits of an exact number (numerator or denominator). Python
#: refuses to print integers of over 4300 digits, and float64 ends at 1.8e308.
MAX_DIGITS = 1000

# Numeric exponents are bounded so that SymPy's exact arithmetic stays fast:
# ``x**(10**10)`` or ``9**9**9`` would otherwise hang the parser.
_MAX_SYMBOLIC_POWER = 1000  # no variable ends up raised to more than this
_BITS_PER_DIGIT = math.log2(10)
_MAX_INTEGER_BITS = math.ceil(MAX_DIGITS * _BITS_PER_DIGIT)

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
_ALLOWED = ", ".join([*VARIABLES, *_CONSTANTS, *_FUNCTIONS])

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
        offending piece), is nested deeper than :data:`MAX_DEPTH`, holds an exact
        number of more than :data:`MAX_DIGITS` digits, does not depend on any
        variable, uses ``y`` without ``x``, is undefined (e.g. divides by zero),
        or is not real: a complex constant such as ``sqrt(-1)`` or ``(-8)**(1/3)``
        (SymPy takes the principal complex root), an expression with no real
        value for any real ``x``, or one whose derivative is complex.

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
        if "\udc80" <= char <= "\udcff":  # a byte that was not UTF-8 (surrogateescape)
            raise UsageError(
                f"the function {source!r} contains the byte 0x{ord(char) - 0xDC00:02x}, "
                "which is not UTF-8 text; type the formula again in plain characters, "
                "e.g. 'x**2 * sin(x)'"
            )
        if not char.isprintable() and char != "\t":
            advice = "write it on one line" if char in _LINE_BREAKS else "remove it"
            raise UsageError(
                f"the function {source!r} contains the control character {char!r}; {advice}"
            )
    if "#" in source:  # Python would read the rest as a comment and drop it unseen
        raise UsageError(
            f"the function {source!r} contains '#' at column {source.index('#') + 1}, which "
            "would make the rest a comment; write the formula alone"
        )
    expr = _Builder(source).build()
    symbols = expr.free_symbols
    if not symbols:
        raise UsageError(
            f"{source!r} does not depend on x or y (it simplifies to {expr}); "
            "a function to minimise needs a variable"
        )
    if symbols == {Y}:
        raise UsageError(f"{source!r} uses y but not x; write a function of one variable in x")
    variables = ("x",) if symbols == {X} else ("x", "y")
    try:
        return Function(text=source, expr=expr, variables=variables)
    except UsageError:
        raise
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        # a safety net: the limits above should keep SymPy within bounds
        raise UsageError(
            f"cannot differentiate {source!r}: it is too large or too deeply nested "
            f"for SymPy ({type(exc).__name__}); write it more simply"
        ) from None


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
        depth = _depth(tree.body)
        if depth > MAX_DEPTH:
            shown = self.original if len(self.original) <= 60 else self.original[:57] + "..."
            raise UsageError(
                f"{shown!r} is nested too deeply: {depth} levels, at most {MAX_DEPTH}; "
                "write it more simply"
            )
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

    def _refuse(self, node: ast.AST, message: str, hint: str | None = None) -> UsageError:
        segment = self._segment(node)
        if segment == self.original:
            return UsageError(f"{message}: {segment!r}", hint=hint)
        return UsageError(f"{message}: {segment!r} in {self.original!r}", hint=hint)

    def _check_size(self, node: ast.AST, value: sympy.Expr) -> None:
        """Refuse an exact number of more than :data:`MAX_DIGITS` digits in ``value``."""
        bits = max(
            [0, *(max(int(r.p).bit_length(), int(r.q).bit_length()) for r in _rationals(value))]
        )
        if bits > _MAX_INTEGER_BITS:
            raise self._refuse(node, _too_many_digits(bits))

    def _check_magnitude(self, node: ast.AST, value: sympy.Expr) -> None:
        """Refuse a constant beyond float64's range as a function's argument or an
        exponent (``sin(exp(exp(100)))``, ``(-1)**exp(exp(100))``): SymPy's exact work on
        such a number (its sine, a power of -1) takes unbounded time, and in float64 the
        result would be inf or nan anyway. A huge exact integer elsewhere (``10**999*x``)
        stays allowed: SymPy's arithmetic on it is quick."""
        if not value.is_number or value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            return
        try:
            size = abs(complex(value.evalf(15)))
        except (OverflowError, TypeError, ValueError):
            size = math.inf
        if size > _FLOAT64_MAX:
            raise self._refuse(
                node,
                f"this constant is beyond float64's range (about {_magnitude(value)}, and "
                "float64 ends at 1.8e308)",
                hint="gradlab computes the function in float64; keep every constant below "
                "1e308 (exp of at most 709).",
            )

    def _check_real(self, node: ast.AST, value: sympy.Expr) -> None:
        """Refuse a constant that is not a real number (``sqrt(-1)``, ``(-8)**(1/3)``)."""
        if not value.is_number or value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            return  # a variable is real; an infinite constant gets its own message later
        real = value.is_extended_real
        if real is None:  # SymPy cannot tell symbolically: look at the number
            real = sympy.im(value.evalf(30, chop=True)) == 0
        if real:
            return
        hint = None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            hint = (
                "A power of a negative number to a fraction is complex (SymPy takes the "
                "principal root); for the real cube root of -8 write -(8**(1/3))."
            )
        raise self._refuse(
            node,
            f"complex numbers are not allowed, and this is {value} "
            f"(about {sympy.N(value, 4)}); gradlab minimises real functions",
            hint,
        )

    # ---------------------------------------------------------------- visitors

    def _visit(self, node: ast.AST) -> sympy.Expr:
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.BinOp | ast.UnaryOp | ast.Call):
            if isinstance(node, ast.BinOp):
                value = self._binary(node)
            elif isinstance(node, ast.UnaryOp):
                value = self._unary(node)
            else:
                value = self._call(node)
            self._check_real(node, value)
            return value
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
        if node.id in VARIABLES:
            return VARIABLES[node.id]
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
        if op is ast.Pow:
            base = self._visit(node.left)
            exponent = self._visit(node.right)
            self._check_magnitude(node.right, exponent)
            self._check_power(node, base, exponent)
            value = cast(sympy.Expr, base**exponent)
            self._check_size(node, value)
            return value
        # ``a + b - c + ...`` parses as a left-leaning chain as long as the text:
        # fold it in a loop, so that only real nesting costs recursion
        spine = [node]
        while (
            isinstance(spine[-1].left, ast.BinOp)
            and _CHAINS.get(type(spine[-1].left.op)) == _CHAINS[op]
        ):
            spine.append(spine[-1].left)
        value = self._visit(spine[-1].left)
        for link in reversed(spine):
            value = _BINARY[type(link.op)](value, self._visit(link.right))
            if _CHAINS[type(link.op)] == "product":  # a sum grows by a digit at most
                self._check_size(link, value)
        return value

    def _check_power(self, node: ast.AST, base: sympy.Expr, exponent: sympy.Expr) -> None:
        """Refuse powers whose exact evaluation would be huge (``9**9**9``, ``x**10**9``)."""
        if not exponent.is_Number:
            return
        size = abs(float(exponent))
        powers = [
            abs(float(p.exp)) for p in base.atoms(sympy.Pow) if p.exp.is_Number
        ]  # e.g. (x**3)**4 becomes x**12
        bits = [  # log2 of the largest numerator or denominator in the base
            max(math.log2(abs(int(r.p)) or 1), math.log2(int(r.q))) for r in _rationals(base)
        ]
        if size * max([1.0, *powers]) > _MAX_SYMBOLIC_POWER:
            raise self._refuse(
                node,
                f"the exponent is too large (powers are limited to {_MAX_SYMBOLIC_POWER})",
            )
        if size * max([0.0, *bits]) > _MAX_INTEGER_BITS:  # checked before SymPy computes it
            raise self._refuse(node, _too_many_digits(size * max([0.0, *bits])))

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
            if name in VARIABLES or name in _CONSTANTS:
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
        argument = self._visit(node.args[0])
        self._check_magnitude(node.args[0], argument)
        return _FUNCTIONS[name](argument)


#: float64's largest finite number.
_FLOAT64_MAX = float(np.finfo(np.float64).max)


def _magnitude(value: sympy.Expr) -> str:
    """``1e+9565``: the power of ten of a huge constant, as far as it can be told."""
    try:
        exponent = sympy.floor(sympy.log(abs(value.evalf(15)), 10))
        return f"1e+{int(exponent)}"
    except (OverflowError, TypeError, ValueError):
        return "too large to say"


def _rationals(value: sympy.Expr) -> set[sympy.Rational]:
    return cast(set[sympy.Rational], value.atoms(sympy.Rational))


def _too_many_digits(bits: float) -> str:
    return (
        f"the number is too large: about {bits / _BITS_PER_DIGIT:.0f} digits, "
        f"and exact numbers are limited to {MAX_DIGITS}"
    )


_CHAINS: dict[type[ast.operator], str] = {
    ast.Add: "sum",
    ast.Sub: "sum",
    ast.Mult: "product",
    ast.Div: "product",
}


def _depth(root: ast.AST) -> int:
    """How deeply ``root`` nests, counted without recursion (see :data:`MAX_DEPTH`).

    A sum inside a sum, or a product inside a product, adds no level: SymPy
    flattens ``x + y + z`` into one node. Every other operator, call or unary
    sign adds one.
    """
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        chain = _CHAINS.get(type(node.op)) if isinstance(node, ast.BinOp) else None
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.expr):
                continue  # operators and contexts
            same = (
                chain is not None
                and isinstance(child, ast.BinOp)
                and _CHAINS.get(type(child.op)) == chain
            )
            stack.append((child, depth if same else depth + 1))
    return deepest
