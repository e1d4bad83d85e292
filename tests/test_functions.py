"""Tests of gradlab.functions: safe parsing, derivatives and gradient descent on f(x)."""

from __future__ import annotations

import builtins
import functools
import math
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab.errors import UsageError
from gradlab.functions import (
    MAX_TEXT_LENGTH,
    OSCILLATION_WINDOW,
    Function,
    Trajectory,
    compare_rates,
    minimize,
    parse_function,
)

TUTORIAL = "x**2 * sin(x)"
X = sympy.Symbol("x", real=True)
Y = sympy.Symbol("y", real=True)


@functools.cache
def parsed(text: str) -> Function:
    return parse_function(text)


def tutorial_derivative(x: float) -> float:
    return 2 * x * math.sin(x) + x**2 * math.cos(x)


# ----------------------------------------------------------------------------- parsing


def test_tutorial_derivative_equals_hand_derived_formula_symbolically() -> None:
    f = parse_function(TUTORIAL)
    (x,) = f.expr.free_symbols
    hand = 2 * x * sympy.sin(x) + x**2 * sympy.cos(x)
    assert sympy.simplify(f.gradient_exprs[0] - hand) == 0
    assert f.derivative_text == "x**2*cos(x) + 2*x*sin(x)"
    assert f.variables == ("x",)
    assert f.n_vars == 1
    assert f.text == TUTORIAL
    assert str(f) == TUTORIAL


def test_two_variable_function_has_x_then_y_and_both_partials_in_text() -> None:
    f = parse_function("x^2 + 3*y^2")
    assert f.variables == ("x", "y")
    assert f.n_vars == 2
    assert f.gradient_exprs == (2 * X, 6 * Y)
    assert f.derivative_text == "df/dx = 2*x, df/dy = 6*y"


def test_variables_are_ordered_x_then_y_even_when_y_is_written_first() -> None:
    assert parse_function("y**2 + x").variables == ("x", "y")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x^2 + 1", X**2 + 1),  # Python's ^ would bind looser than +: x^(2+1)
        ("-x^2", -(X**2)),
        ("2^3^2 * x", 512 * X),  # right-associative, like **
        ("x ^ 2 * y", X**2 * Y),
        ("e^x", sympy.exp(X)),
        ("x**(1/2)", sympy.sqrt(X)),
    ],
)
def test_caret_means_power_with_the_precedence_of_double_star(
    text: str, expected: sympy.Expr
) -> None:
    assert parse_function(text).expr == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sin(x) + cos(x) + tan(x)", sympy.sin(X) + sympy.cos(X) + sympy.tan(X)),
        ("asin(x) + acos(x) + atan(x)", sympy.asin(X) + sympy.acos(X) + sympy.atan(X)),
        ("sinh(x) * cosh(x) / tanh(x)", sympy.sinh(X) * sympy.cosh(X) / sympy.tanh(X)),
        (
            "exp(x) - log(x) + sqrt(x) + abs(x)",
            sympy.exp(X) - sympy.log(X) + sympy.sqrt(X) + abs(X),
        ),
        ("pi * x + e", sympy.pi * X + sympy.E),
        ("+x - -y", X + Y),
        ("2.5 * x", sympy.Float(2.5) * X),
        ("  ((x))\t* 2 ", 2 * X),
    ],
)
def test_every_whitelisted_piece_maps_to_its_sympy_object(text: str, expected: sympy.Expr) -> None:
    assert parse_function(text).expr == expected


def test_text_is_stripped_and_kept_as_written() -> None:
    assert parse_function("  x^2  ").text == "x^2"


REFUSALS = [
    ("", r"the function is empty"),
    ("   ", r"the function is empty"),
    ("x" * (MAX_TEXT_LENGTH + 1), rf"{MAX_TEXT_LENGTH + 1} characters long; at most 500"),
    ("x**", r"cannot parse 'x\*\*': invalid syntax at column 4 \(the end\)"),
    ("x^2 +* 3", r"cannot parse 'x\^2 \+\* 3': invalid syntax at column 6$"),
    ("sin(x", r"cannot parse 'sin\(x': '\(' was never closed at column 4"),
    ("x²", r"cannot parse 'x²': invalid character '²' \(U\+00B2\) at column 2"),
    ("foo(x)", r"unknown function 'foo' in 'foo\(x\)'; allowed: x, y, pi, e, sin, cos, .*abs"),
    (
        "z + x",
        r"unknown name 'z' in 'z \+ x'; allowed: x, y, pi, e, sin, .*abs "
        r"\(the variables are x and y\)",
    ),
    ("open('/etc/passwd')", r"unknown function 'open'"),
    ("x.real", r"attribute access is not allowed: 'x\.real'"),
    ("().__class__", r"attribute access is not allowed: '\(\)\.__class__'"),
    ("x[0]", r"subscripts are not allowed: 'x\[0\]'"),
    ("lambda: x", r"lambdas are not allowed: 'lambda: x'"),
    ("[x for x in (1,)]", r"comprehensions are not allowed"),
    ("sum(x for x in (1,))", r"unknown function 'sum'"),
    ("'x'", r"strings are not allowed: \"'x'\""),
    ("f'{x}'", r"strings are not allowed"),
    ("x * 'a'", r"strings are not allowed: \"'a'\" in \"x \* 'a'\""),
    ("sin(x=1)", r"keyword arguments are not allowed \(sin takes one value\): 'sin\(x=1\)'"),
    ("sin(*x)", r"starred arguments are not allowed: 'sin\(\*x\)'"),
    ("sin(x, y)", r"sin takes exactly one argument, got 2: 'sin\(x, y\)'"),
    ("log(x, 2)", r"log takes exactly one argument, got 2"),
    ("sin()", r"sin takes exactly one argument, got 0"),
    ("x(2)", r"x is not a function \(write x\*\(\.\.\.\) for a product\)"),
    ("(x)(2)", r"x is not a function"),
    (
        "(lambda: 1)()",
        r"calls of anything but a named function are not allowed: '\(lambda: 1\)\(\)'",
    ),
    ("sin", r"the function sin must be called, e\.g\. sin\(x\): 'sin'"),
    ("1j * x", r"complex numbers are not allowed: '1j' in '1j \* x'"),
    ("True * x", r"the constant True is not allowed: 'True'"),
    ("None", r"the constant None is not allowed"),
    ("1e999 * x", r"the number is too large: '1e999'"),
    ("x // 2", r"the operator '//' is not allowed: 'x // 2'"),
    ("x % 2", r"the operator '%' is not allowed"),
    ("x @ x", r"the operator '@' is not allowed"),
    ("x | y", r"the operator '\|' is not allowed"),
    ("~x", r"the operator '~' is not allowed: '~x'"),
    ("not x", r"the operator 'not' is not allowed"),
    ("x < 2", r"comparisons are not allowed: 'x < 2'"),
    ("x and y", r"'and' and 'or' are not allowed"),
    ("x if y else 1", r"conditional expressions are not allowed"),
    ("(x, y)", r"tuples are not allowed"),
    ("[x]", r"lists are not allowed"),
    ("{x: 1}", r"dicts are not allowed"),
    ("(y := 2)", r"assignments are not allowed: 'y := 2'"),
    ("x\n+ 1", r"contains the control character '\\n'; write it on one line"),
    ("x\x00+ 1", r"contains the control character '\\x00'; remove it"),
    # what Python makes of a byte that is not UTF-8 in a command line (surrogateescape)
    (b"x\xff".decode("utf-8", "surrogateescape"), r"contains the byte 0xff, which is not UTF-8"),
    (
        "x**2 # + 3",
        r"the function 'x\*\*2 # \+ 3' contains '#' at column 6, which would make the rest "
        r"a comment; write the formula alone",
    ),
    ("x - x", r"'x - x' does not depend on x or y \(it simplifies to 0\)"),
    ("2 * pi", r"does not depend on x or y"),
    ("y**2", r"'y\*\*2' uses y but not x; write a function of one variable in x"),
    ("1/0 + x", r"undefined everywhere \(it simplifies to zoo\); is there a division by zero"),
    ("log(0) * x", r"undefined everywhere"),
    (
        "x**(10**10)",
        r"the exponent is too large \(powers are limited to 1000\): 'x\*\*\(10\*\*10\)'",
    ),
    ("9^9^9 * x", r"the exponent is too large .*: '9\^9\^9' in '9\^9\^9 \* x'"),
    ("((2*x)^100)^100", r"the exponent is too large"),
    (
        "((2^999)^999)^999 * x",
        r"the number is too large: about 300428 digits, and exact numbers are limited to 1000: "
        r"'\(2\^999\)\^999' in",
    ),
    # Python refuses to print an int of over 4300 digits: SymPy would fail printing it
    (
        "x*(10**999)**5",
        r"the number is too large: about 4995 digits, .* limited to 1000: "
        r"'\(10\*\*999\)\*\*5' in 'x\*\(10\*\*999\)\*\*5'$",
    ),
    (
        "9**999*9**999*9**999*x",
        r"about 1907 digits, .*: '9\*\*999\*9\*\*999' in '9\*\*999\*9\*\*999\*9\*\*999\*x'$",
    ),
    ("-" * 490 + "x", r"nested too deeply|too many nested"),
    # a power tower sent SymPy's derivative past the recursion limit
    (
        "**".join(["x"] * 140),
        r"^'x\*\*x\*\*.*\.\.\.' is nested too deeply: 140 levels, at most 30; "
        r"write it more simply$",
    ),
    ("sin(" * 30 + "x" + ")" * 30, r"is nested too deeply: 31 levels, at most 30"),
    # complex constants: refused, never cut to their real part
    (
        "sqrt(-1)*x**2",
        r"^complex numbers are not allowed, and this is I \(about 1\.0\*I\); gradlab "
        r"minimises real functions: 'sqrt\(-1\)' in 'sqrt\(-1\)\*x\*\*2'$",
    ),
    (
        "(-8)**(1/3) * x",
        r"^complex numbers .* this is 2\*\(-1\)\*\*\(1/3\) \(about 1\.0 \+ 1\.732\*I\); "
        r".*: '\(-8\)\*\*\(1/3\)' in",
    ),
    ("log(-1)*x", r"this is I\*pi \(about 3\.142\*I\).*: 'log\(-1\)' in 'log\(-1\)\*x'$"),
    ("x + asin(2)", r"this is asin\(2\) \(about 1\.571 - 1\.317\*I\).*: 'asin\(2\)' in"),
    ("x * (-2.5)^0.5", r"complex numbers are not allowed.*: '\(-2\.5\)\^0\.5' in"),
    ("x - log(sin(5))", r"complex numbers are not allowed.*: 'log\(sin\(5\)\)' in"),
    ("x^2 + sqrt(1 - pi)", r"complex numbers are not allowed.*: 'sqrt\(1 - pi\)' in"),
    ("x^2 + sqrt(-1)^2", r"complex numbers are not allowed.*: 'sqrt\(-1\)' in"),
    (
        "sqrt(-x^2 - 1)",
        r"^'sqrt\(-x\^2 - 1\)' has no real value for any real x; gradlab minimises real "
        r"functions$",
    ),
    ("log(-x^2 - y^2 - 1)", r"has no real value for any real x and y"),
    (
        "(-1)^x",
        r"^'\(-1\)\^x' is not a real function of real x: its derivative df/dx = "
        r"\(-1\)\*\*x\*I\*pi is complex \(it holds I, the imaginary unit\)\n",
    ),
    ("x + (-2)^y", r"is not a real function of real x and y: its derivative df/dy = "),
    # a constant past float64 fed to a function or used as an exponent: SymPy's exact work
    # on it hung (the sine of exp(exp(20)) took its argument modulo pi to 1e43 bits) or
    # overflowed (a traceback)
    (
        "sin(exp(exp(20)))*x",
        r"^this constant is beyond float64's range \(about 1e\+210704567, and float64 ends "
        r"at 1\.8e308\): 'exp\(exp\(20\)\)' in 'sin\(exp\(exp\(20\)\)\)\*x'\n"
        r"gradlab computes the function in float64; keep every constant below 1e308 \(exp of "
        r"at most 709\)\.$",
    ),
    ("(-1)**exp(exp(100))*x", r"beyond float64's range .*: 'exp\(exp\(100\)\)' in"),
    ("(-1)**exp(exp(exp(10)))*x", r"beyond float64's range \(about 1e\+9565, "),
    ("sqrt(sin(exp(exp(100))))*x", r"beyond float64's range .*: 'exp\(exp\(100\)\)' in"),
]


@pytest.mark.parametrize(("text", "message"), REFUSALS)
def test_parse_function_refuses_with_a_message_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_function(text)


def test_complex_root_of_a_negative_number_gets_a_hint_for_the_real_root() -> None:
    with pytest.raises(UsageError, match=r"complex numbers are not allowed") as info:
        parse_function("(-8)^(1/3) * x")
    assert info.value.hint is not None
    assert "for the real cube root of -8 write -(8**(1/3))" in info.value.hint
    assert parse_function("-(8**(1/3)) * x").expr == -2 * X


def test_variable_power_of_a_negative_number_gets_a_hint() -> None:
    with pytest.raises(UsageError, match=r"not a real function") as info:
        parse_function("(-1)^x")
    assert info.value.hint == (
        "A negative number to a variable power, such as (-1)**x, is real only "
        "at whole-number exponents."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x*10**999/10**998", 10 * X),  # exact arithmetic through a 1000-digit number
        ("x^2 + (1/2)^999", X**2 + sympy.Rational(1, 2**999)),
        ("+".join(["x"] * 240), 240 * X),  # a long sum is flat, not deep
        ("*".join(["x"] * 240), X**240),
        ("sin(" * 29 + "x" + ")" * 29, functools.reduce(lambda e, _: sympy.sin(e), range(29), X)),
        ("sqrt(x^2)", abs(X)),  # x is real
        ("abs(sqrt(x) - 1) * x^(1/3)", abs(sympy.sqrt(X) - 1) * X ** sympy.Rational(1, 3)),
    ],
)
def test_limits_leave_room_for_real_formulas(text: str, expected: sympy.Expr) -> None:
    assert parse_function(text).expr == expected


def test_tower_at_the_depth_limit_parses_on_a_deep_stack() -> None:
    # the limit leaves SymPy room even when the caller is already deep in the stack
    text = "**".join(["x"] * 30)

    def nest(levels: int) -> Function:
        return parse_function(text) if levels == 0 else nest(levels - 1)

    f = nest(300)
    assert float(f.value(1.0)) == 1.0


def test_function_built_from_a_complex_expression_is_refused() -> None:
    with pytest.raises(UsageError, match=r"^'i x' is complex \(I\*x holds I, the imaginary unit\)"):
        Function(text="i x", expr=sympy.I * X, variables=("x",))


def test_complex_values_become_nan_never_their_real_part() -> None:
    from gradlab.functions.function import _real

    values = _real(np.array([2.0 + 0j, 1.0 + 1e-300j, -3.0 + 2.0j]))
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, [2.0, np.nan, np.nan])
    np.testing.assert_array_equal(_real([1, 2]), [1.0, 2.0])


def test_implicit_product_gets_a_hint_to_write_the_star() -> None:
    with pytest.raises(UsageError, match=r"cannot parse '2x': invalid decimal literal") as info:
        parse_function("2x")
    assert info.value.hint == "Write products with '*', e.g. 2*x instead of 2x."


def test_non_text_function_is_refused() -> None:
    with pytest.raises(UsageError, match=r"a function must be given as text, got int"):
        parse_function(3)  # type: ignore[arg-type]


def test_usage_error_is_a_value_error_with_exit_status_2() -> None:
    with pytest.raises(ValueError, match="unknown name") as info:
        parse_function("q")
    assert isinstance(info.value, UsageError)
    assert info.value.exit_status == 2


INJECTIONS = [
    "__import__('os').system('touch {marker}')",
    "__import__('os').system",
    "open('{marker}', 'w')",
    "exec(\"open('{marker}', 'w')\")",
    "eval(\"open('{marker}', 'w')\")",
    "[open('{marker}', 'w') for _ in (1,)]",
    "().__class__.__base__.__subclasses__()",
    "(lambda: open('{marker}', 'w'))()",
    "(x for x in (1,)).gi_frame",
    "sin(open('{marker}', 'w'))",
    "x + __builtins__",
    "sin(x).__class__",
]


@pytest.mark.parametrize("template", INJECTIONS)
def test_injection_is_refused_and_never_evaluated(
    template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    text = template.format(marker=marker)
    calls: list[str] = []

    def tripwire(name: str) -> object:
        def fail(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"{name} was called with {args!r}")

        return fail

    refused: UsageError | None = None
    with monkeypatch.context() as patch:
        patch.setattr(os, "system", tripwire("os.system"))
        patch.setattr(builtins, "eval", tripwire("eval"))
        patch.setattr(builtins, "exec", tripwire("exec"))
        patch.setattr(builtins, "open", tripwire("open"))
        patch.setattr(builtins, "__import__", tripwire("__import__"))
        try:
            parse_function(text)
        except UsageError as exc:
            refused = exc
    assert refused is not None, f"{text!r} was accepted"
    assert "not allowed" in refused.message or "unknown" in refused.message
    assert calls == []
    assert not marker.exists()


def test_injection_message_names_the_attribute_call() -> None:
    text = "__import__('os').system('echo hi')"
    with pytest.raises(
        UsageError, match=r"function calls on attributes are not allowed: .*system\('echo hi'\)"
    ):
        parse_function(text)


# ----------------------------------------------------------------------------- evaluation

FINITE_DIFFERENCE_CASES = [
    ("x^2 * sin(x)", -6.0, 6.0),
    ("exp(-x^2) * cos(3*x)", -3.0, 3.0),
    ("log(1 + x^2) + atan(x)", -5.0, 5.0),
    ("sqrt(x) * tanh(x)", 0.1, 5.0),
    ("x / (1 + x^2) - cosh(x/3)", -4.0, 4.0),
    ("asin(x/2) + acos(x/3) + sinh(x)", -1.5, 1.5),
    ("abs(x - 0.5) * x^3 + tan(x/2)", 0.6, 2.0),
]


def central_difference(f: Function, point: np.ndarray, i: int) -> tuple[float, float]:
    """Central difference along coordinate ``i`` and a bound on its rounding error."""
    h = 1e-6 * max(1.0, abs(float(point[i])))
    step = np.zeros_like(point)
    step[i] = h
    up, down = f.value(point + step), f.value(point - step)
    rounding = 4 * np.finfo(np.float64).eps * max(abs(float(up)), abs(float(down))) / h
    return float((up - down) / (2 * h)), rounding


@pytest.mark.parametrize(("text", "low", "high"), FINITE_DIFFERENCE_CASES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_gradient_matches_central_differences_in_one_variable(
    text: str, low: float, high: float, data: st.DataObject
) -> None:
    f = parsed(text)
    x = data.draw(st.floats(low, high, allow_nan=False, allow_infinity=False), label="x")
    point = np.array([x])
    gradient = f.gradient(point)
    assert gradient.shape == (1,)
    assert gradient.dtype == np.float64
    estimate, rounding = central_difference(f, point, 0)
    assert abs(gradient[0] - estimate) <= 1e-6 * max(1.0, abs(gradient[0])) + rounding


TWO_D_CASES = [
    "x^2 * y + sin(x*y)",
    "exp(-(x^2 + y^2)/2) * x",
    "(1 - x)^2 + 100*(y - x^2)^2",
    "x^2 + 3*y^2",
]


@pytest.mark.parametrize("text", TWO_D_CASES)
@settings(max_examples=50, deadline=None)
@given(
    x=st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False),
    y=st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False),
)
def test_gradient_matches_central_differences_in_two_variables(
    text: str, x: float, y: float
) -> None:
    f = parsed(text)
    point = np.array([x, y])
    gradient = f.gradient(point)
    assert gradient.shape == (2,)
    for i in range(2):
        estimate, rounding = central_difference(f, point, i)
        assert abs(gradient[i] - estimate) <= 1e-6 * max(1.0, abs(gradient[i])) + rounding


def test_two_variable_gradient_is_exact_for_the_quadratic_bowl() -> None:
    f = parse_function("x^2 + 3*y^2")
    np.testing.assert_array_equal(f.gradient([2.0, 1.0]), [4.0, 6.0])
    np.testing.assert_array_equal(f.gradient([[2.0, 1.0], [0.0, -1.0]]), [[4.0, 6.0], [0.0, -6.0]])


def test_value_is_vectorised_over_leading_axes() -> None:
    f = parse_function("x^2 * y + sin(x*y)")
    rng = np.random.default_rng(0)
    points = rng.normal(size=(3, 4, 2))
    values = f.value(points)
    assert values.shape == (3, 4)
    expected = points[..., 0] ** 2 * points[..., 1] + np.sin(points[..., 0] * points[..., 1])
    np.testing.assert_allclose(values, expected, rtol=1e-14)
    assert f.gradient(points).shape == (3, 4, 2)


def test_value_accepts_a_scalar_for_one_variable_and_returns_a_fresh_array() -> None:
    f = parse_function("x")
    points = np.array([[1.0], [2.0]])
    values = f.value(points)
    np.testing.assert_array_equal(values, [1.0, 2.0])
    values[0] = 99.0
    assert points[0, 0] == 1.0
    assert float(parse_function(TUTORIAL).value(4.0)) == pytest.approx(16 * math.sin(4))


def test_constant_partial_derivatives_broadcast_to_the_points_shape() -> None:
    f = parse_function("x + 2*y")
    np.testing.assert_array_equal(f.gradient(np.zeros((5, 2))), np.tile([1.0, 2.0], (5, 1)))


@pytest.mark.filterwarnings("error")
def test_value_outside_the_domain_is_nan_without_a_warning() -> None:
    f = parse_function("log(x) + sqrt(x)")
    values = f.value([[-1.0], [1.0]])
    assert np.isnan(values[0])
    assert values[1] == pytest.approx(1.0)


def test_value_with_wrong_last_axis_names_the_expected_shape() -> None:
    f = parse_function("x^2 + y^2")
    with pytest.raises(UsageError, match=r"points must have shape \(\.\.\., 2\) for a function "):
        f.value([1.0, 2.0, 3.0])
    with pytest.raises(UsageError, match=r"point must have shape \(\.\.\., 2\).*got shape \(\)"):
        f.gradient(1.0)
    with pytest.raises(UsageError, match=r"points must be an array of numbers"):
        f.value("ab")


def test_huge_integer_constants_evaluate_to_inf_instead_of_crashing() -> None:
    f = parse_function("10^400 * x + x^2")
    assert math.isinf(float(f.value(1.0)))
    assert float(parse_function("2^100 * x").value(1.0)) == 2.0**100


def test_function_survives_pickle_with_working_callables() -> None:
    f = parse_function(TUTORIAL)
    g = pickle.loads(pickle.dumps(f))
    assert g == f
    assert hash(g) == hash(f)
    assert float(g.value(4.0)) == float(f.value(4.0))


def test_function_refuses_other_variable_tuples() -> None:
    with pytest.raises(
        UsageError, match=r"variables must be \('x',\) or \('x', 'y'\), got \('y',\)"
    ):
        Function(text="y", expr=Y, variables=("y",))


def test_importing_the_module_loads_neither_torch_nor_tensorflow() -> None:
    code = (
        "import sys, gradlab.functions; "
        "print(sorted(m for m in ('torch', 'tensorflow') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- descent


def test_one_step_equals_x0_minus_lr_times_the_derivative() -> None:
    lr = 0.05
    trajectory = minimize(TUTORIAL, 4.0, lr=lr, steps=1)
    f = trajectory.function
    assert trajectory.points[1, 0] == 4.0 - lr * f.gradient([4.0])[0]
    assert trajectory.points[1, 0] == pytest.approx(4.0 - lr * tutorial_derivative(4.0), rel=1e-15)
    assert trajectory.values[1] == pytest.approx(
        trajectory.points[1, 0] ** 2 * math.sin(trajectory.points[1, 0])
    )


@pytest.mark.parametrize(
    ("lr", "verdict"),
    [
        (0.001, "too slow"),
        (0.01, "converged"),
        (0.05, "converged"),
        (0.1, "oscillating"),
        (1.0, "diverged"),
    ],
)
def test_tutorial_verdicts_from_x0_4_over_200_steps(lr: float, verdict: str) -> None:
    trajectory = minimize(TUTORIAL, 4.0, lr=lr, steps=200)
    assert trajectory.verdict == verdict


def test_tutorial_good_rate_reaches_the_local_minimum_near_5_087() -> None:
    trajectory = minimize(TUTORIAL, 4.0, lr=0.05)
    assert trajectory.verdict == "converged"
    assert trajectory.converged_at == trajectory.steps_taken
    assert trajectory.converged_at is not None
    assert trajectory.converged_at < 50
    assert trajectory.diverged_at is None
    assert float(trajectory.x_final[0]) == pytest.approx(5.0870, abs=1e-4)
    assert abs(tutorial_derivative(float(trajectory.x_final[0]))) < 1e-6
    assert trajectory.f_final == pytest.approx(-24.08296, abs=1e-5)


def test_tutorial_tiny_rate_is_still_descending_when_steps_run_out() -> None:
    trajectory = minimize(TUTORIAL, 4.0, lr=0.001, steps=200)
    assert trajectory.steps_taken == 200
    assert trajectory.converged_at is None
    assert np.all(np.diff(trajectory.values) < 0)
    assert np.all(np.diff(trajectory.points[:, 0]) > 0)


def test_trajectory_shapes_and_read_only_arrays() -> None:
    trajectory = minimize("x^2 + 3*y^2", [2.0, 1.0], lr=0.01, steps=30)
    assert isinstance(trajectory, Trajectory)
    assert trajectory.points.shape == (31, 2)
    assert trajectory.values.shape == (31,)
    assert trajectory.gradients.shape == (31, 2)
    np.testing.assert_array_equal(trajectory.points[0], [2.0, 1.0])
    np.testing.assert_array_equal(trajectory.gradients[0], [4.0, 6.0])
    assert trajectory.x_final.shape == (2,)
    assert trajectory.steps == 30
    assert trajectory.tol == 1e-8
    assert trajectory.lr == 0.01
    with pytest.raises(ValueError, match="read-only"):
        trajectory.points[0, 0] = 1.0


@pytest.mark.parametrize(
    ("lr", "verdict"),
    [(0.01, "too slow"), (0.1, "converged"), (0.3, "converged"), (0.5, "diverged")],
)
def test_two_variable_bowl_verdicts(lr: float, verdict: str) -> None:
    trajectory = minimize("x^2 + 3*y^2", (2.0, 1.0), lr=lr)
    assert trajectory.verdict == verdict
    if verdict == "converged":
        np.testing.assert_allclose(trajectory.x_final, [0.0, 0.0], atol=1e-7)


def test_update_that_flips_sign_every_step_without_settling_is_oscillating() -> None:
    # x <- x - 0.995 * 2x = -0.99 x: bounces across 0 and shrinks too slowly for 200 steps
    trajectory = minimize("x^2", 1.0, lr=0.995, steps=200)
    assert trajectory.verdict == "oscillating"
    assert trajectory.converged_at is None
    assert trajectory.diverged_at is None
    signs = np.sign(np.diff(trajectory.points[-OSCILLATION_WINDOW:, 0]))
    assert np.all(signs[1:] != signs[:-1])


def test_oscillation_in_one_coordinate_is_enough() -> None:
    # x settles fast (factor 0.6), y bounces (factor 1 - 0.2*9.95 = -0.99)
    trajectory = minimize("x^2 + 4.975*y^2", (1.0, 1.0), lr=0.2, steps=200)
    assert trajectory.verdict == "oscillating"


def test_bounce_that_grows_every_step_is_diverging_before_it_explodes() -> None:
    # x <- x - 1.01 * 2x = -1.02 x: each bounce 2% longer; 1.02**200 ~ 52 stays under explode
    trajectory = minimize("x^2", 1.0, lr=1.01, steps=200)
    assert trajectory.verdict == "diverging"
    assert trajectory.diverged_at is None
    assert abs(trajectory.x_final[0]) > 40


def test_slow_growth_in_one_coordinate_of_two_is_diverging() -> None:
    # y <- y - 0.34 * 6y = -1.04 y, while x settles
    assert minimize("x^2 + 3*y^2", (2.0, 1.0), lr=0.34).verdict == "diverging"


def test_bounce_of_constant_length_is_oscillating_not_diverging() -> None:
    # x <- -x exactly: the bounces never grow
    assert minimize("x^2", 1.0, lr=1.0, steps=200).verdict == "oscillating"


def test_bounded_chaotic_bounce_is_oscillating_not_diverging() -> None:
    # the tutorial's lr 0.1: bounces grow for a dozen steps, then fall back near the minimum
    trajectory = minimize("x^2*sin(x)", 4.0, lr=0.1)
    lengths = np.abs(np.diff(trajectory.points[:, 0]))
    assert np.all(lengths[-12:-2] < lengths[-11:-1])  # ten growing bounces in a row ...
    assert trajectory.verdict == "oscillating"  # ... that is not a record: not escaping


def test_too_few_steps_to_judge_oscillation_counts_as_too_slow() -> None:
    assert minimize("x^2", 1.0, lr=0.995, steps=2).verdict == "too slow"


def test_converged_at_is_the_step_whose_update_was_below_tol() -> None:
    # lr = 0.5 jumps to the minimum of x^2 in one step; the second update is 0
    trajectory = minimize("x^2", 3.0, lr=0.5)
    assert trajectory.verdict == "converged"
    assert trajectory.converged_at == 2
    np.testing.assert_array_equal(trajectory.points[:, 0], [3.0, 0.0, 0.0])


def test_tol_zero_never_stops_early() -> None:
    trajectory = minimize("x^2", 3.0, lr=0.5, steps=10, tol=0.0)
    assert trajectory.steps_taken == 10
    assert trajectory.converged_at is None


def test_divergence_is_a_result_that_keeps_only_finite_points() -> None:
    trajectory = minimize(TUTORIAL, 4.0, lr=1.0)
    assert trajectory.verdict == "diverged"
    assert trajectory.diverged_at is not None
    assert trajectory.converged_at is None
    assert trajectory.steps_taken == trajectory.diverged_at - 1
    assert np.all(np.isfinite(trajectory.points))
    assert np.all(np.isfinite(trajectory.values))
    assert np.all(np.isfinite(trajectory.gradients))


def test_divergence_when_x_passes_explode() -> None:
    # f = x has gradient 1: x walks -1, -2, ... and passes -10 on step 11
    trajectory = minimize("x", 0.0, lr=1.0, explode=10.0)
    assert trajectory.verdict == "diverged"
    assert trajectory.diverged_at == 11
    assert float(trajectory.x_final[0]) == -10.0


def test_divergence_when_f_explodes_relative_to_its_start() -> None:
    # x^4 from 1 with lr 1: x1 = 1 - 4 = -3 (|x| <= 50) but f(x1) = 81 > 50 * max(1, f(1))
    trajectory = minimize("x^4", 1.0, lr=1.0, explode=50.0)
    assert trajectory.diverged_at == 1
    assert trajectory.steps_taken == 0
    np.testing.assert_array_equal(trajectory.points, [[1.0]])


def test_large_constant_offset_alone_does_not_count_as_divergence() -> None:
    assert minimize("1e15 + x^2", 1.0, lr=0.1).verdict == "converged"


@pytest.mark.filterwarnings("error")
def test_leaving_the_domain_is_divergence_without_warnings() -> None:
    # sqrt(x) from 1 with lr 1: 1 -> 0.5 -> 0.5 - 1/(2 sqrt(0.5)) < 0, where sqrt is nan
    trajectory = minimize("sqrt(x)", 1.0, lr=1.0)
    assert trajectory.verdict == "diverged"
    assert trajectory.diverged_at == 2
    np.testing.assert_array_equal(trajectory.points[:, 0], [1.0, 0.5])


def test_minimize_accepts_a_function_object_and_a_numpy_start() -> None:
    f = parse_function("x^2 + 3*y^2")
    trajectory = minimize(f, np.array([2.0, 1.0]), lr=0.1)
    assert trajectory.function is f
    assert trajectory.verdict == "converged"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0.0}, r"^minimize: lr must be a number > 0; got 0\.0\.$"),
        ({"lr": -1}, r"^minimize: lr must be a number > 0; got -1\.$"),
        ({"lr": math.nan}, r"^minimize: lr must be a number > 0; got nan\.$"),
        ({"lr": math.inf}, r"^minimize: lr must be a number > 0; got inf\.$"),
        ({"lr": "0.1"}, r"^minimize: lr must be a number > 0; got '0\.1'\.$"),
        ({"lr": True}, r"^minimize: lr must be a number > 0; got True\.$"),
        (
            {"lr": 0.1, "steps": 0},
            r"^minimize: steps must be an integer in \[1, 1000000\]; got 0\.$",
        ),
        (
            {"lr": 0.1, "steps": -5},
            r"^minimize: steps must be an integer in \[1, 1000000\]; got -5\.$",
        ),
        (
            {"lr": 0.1, "steps": 2.5},
            r"^minimize: steps must be an integer in \[1, 1000000\]; got 2\.5\.$",
        ),
        (
            {"lr": 0.1, "steps": True},
            r"^minimize: steps must be an integer in \[1, 1000000\]; got True\.$",
        ),
        ({"lr": 0.1, "tol": -1.0}, r"^minimize: tol must be a number >= 0; got -1\.0\.$"),
        ({"lr": 0.1, "tol": math.nan}, r"^minimize: tol must be a number >= 0; got nan\.$"),
        ({"lr": 0.1, "explode": 0.0}, r"^minimize: explode must be a number > 0; got 0\.0\.$"),
    ],
)
def test_minimize_refuses_bad_parameters_naming_them(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        minimize(TUTORIAL, 4.0, **kwargs)  # type: ignore[arg-type]


def test_minimize_accepts_numpy_scalars_for_lr_and_steps() -> None:
    trajectory = minimize(TUTORIAL, 4.0, lr=np.float64(0.05), steps=np.int64(200))
    assert trajectory.verdict == "converged"
    assert type(trajectory.lr) is float


def test_x0_of_the_wrong_length_says_which_variables_the_function_has() -> None:
    with pytest.raises(
        UsageError,
        match=r"x0 has 1 value\(s\) but 'x\^2 \+ 3\*y\^2' is a function of x and y: "
        r"give 2 starting value\(s\), one per variable \(x, y\)",
    ):
        minimize("x^2 + 3*y^2", 2.0, lr=0.1)
    with pytest.raises(
        UsageError, match=r"x0 has 2 value\(s\) but 'x\^2' is a function of x: give 1 starting"
    ):
        minimize("x^2", [1.0, 2.0], lr=0.1)


@pytest.mark.parametrize(
    ("x0", "message"),
    [
        ("abc", r"x0 must be a number or a sequence of numbers, got 'abc'"),
        # a nested x0 said "x0 has 2 value(s) but ... give 2 starting value(s)"
        (
            [[1.0]],
            r"x0 must be flat, one value per variable \(x, y\); got an array of shape \(1, 1\)",
        ),
        (math.nan, r"x0 must be finite, got \[nan\]"),
    ],
)
def test_minimize_refuses_bad_starting_points(x0: object, message: str) -> None:
    text = "x^2" if x0 != [[1.0]] else "x^2 + y^2"
    with pytest.raises(UsageError, match=message):
        minimize(text, x0, lr=0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "x0"),
    [("log(x)", -1.0), ("x^(1/3)", -8.0), ("sqrt(x) + y^2", [-1.0, 0.0]), ("asin(x)", 2.0)],
)
def test_start_outside_the_real_domain_is_a_usage_error(text: str, x0: object) -> None:
    with pytest.raises(
        UsageError,
        match=r"or its gradient has no real value at x0=\[.*\] \(f = nan, gradient = .*\): "
        r"x0 is outside the function's real domain .*; start inside its domain$",
    ):
        minimize(text, x0, lr=0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "x0"), [("1/x", 0.0), ("10^999 * x", 4.0), ("exp(x)", 800.0)])
def test_start_where_f_is_infinite_is_a_usage_error(text: str, x0: float) -> None:
    with pytest.raises(
        UsageError,
        match=r"or its gradient is infinite at x0=\[.*\] \(f = .*\): x0 is a singularity, or "
        r"the values are beyond float64 \(about 1\.8e308\) there; start elsewhere$",
    ):
        minimize(text, x0, lr=0.1)


def test_stepping_out_of_the_real_domain_midway_is_divergence() -> None:
    # x^(1/3) from 1 at lr 10: 1 - 10/3 < 0, where the real cube root is nan in NumPy
    trajectory = minimize("x^(1/3)", 1.0, lr=10.0)
    assert trajectory.verdict == "diverged"
    assert trajectory.diverged_at == 1
    np.testing.assert_array_equal(trajectory.points, [[1.0]])


def test_minimize_refuses_bad_function_text() -> None:
    with pytest.raises(UsageError, match=r"unknown name 'w'"):
        minimize("w^2", 1.0, lr=0.1)


def test_compare_rates_returns_one_trajectory_per_rate_in_order() -> None:
    lrs = [0.001, 0.01, 0.05, 0.1, 1.0]
    trajectories = compare_rates(TUTORIAL, 4.0, lrs)
    assert [t.lr for t in trajectories] == lrs
    assert [t.verdict for t in trajectories] == [
        "too slow",
        "converged",
        "converged",
        "oscillating",
        "diverged",
    ]
    assert all(t.function is trajectories[0].function for t in trajectories)
    assert all(t.points[0, 0] == 4.0 for t in trajectories)


def test_compare_rates_passes_steps_and_tol_through() -> None:
    (trajectory,) = compare_rates("x^2", 1.0, [0.1], steps=5, tol=0.0)
    assert trajectory.steps_taken == 5
    assert trajectory.steps == 5


def test_compare_rates_refuses_empty_rates() -> None:
    with pytest.raises(
        UsageError,
        match=r"^compare_rates: lrs must be a non-empty sequence of learning rates; got \[\]\.$",
    ):
        compare_rates(TUTORIAL, 4.0, [])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lrs": "0.1"}, r"^compare_rates: lrs must be a non-empty sequence .*; got '0\.1'\.$"),
        (
            {"lrs": [0.1], "steps": 0},
            r"^compare_rates: steps must be an integer in \[1, 1000000\]; got 0\.$",
        ),
        ({"lrs": [0.1], "tol": -1}, r"^compare_rates: tol must be a number >= 0; got -1\.$"),
        ({"lrs": [0.1], "explode": -1}, r"^compare_rates: explode must be a number > 0; got -1\.$"),
    ],
)
def test_compare_rates_refuses_bad_parameters_naming_them(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        compare_rates(TUTORIAL, 4.0, **kwargs)  # type: ignore[arg-type]


def test_compare_rates_checks_every_rate_before_running_any(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gradlab.functions.descent as module

    def must_not_run(*args: object, **kwargs: object) -> Trajectory:
        raise AssertionError("minimize ran before all rates were checked")

    monkeypatch.setattr(module, "minimize", must_not_run)
    with pytest.raises(
        UsageError, match=r"^compare_rates: lrs\[1\] must be a number > 0; got -1\.0\.$"
    ):
        compare_rates(TUTORIAL, 4.0, [0.1, -1.0])


def test_no_runtime_warnings_escape_from_divergent_runs() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for lr in (0.5, 1.0, 10.0, 1e6):
            assert minimize(TUTORIAL, 4.0, lr=lr).verdict == "diverged"


def test_the_descent_loop_takes_any_update_rule_as_a_step_function() -> None:
    # a stateful rule (heavy-ball momentum) runs through the same loop as plain descent
    from gradlab.functions.descent import _descend, plain_step

    class HeavyBall:
        def __init__(self, lr: float, mu: float) -> None:
            self.lr, self.mu, self.velocity = lr, mu, np.zeros(1)

        def __call__(self, x: np.ndarray, grad: np.ndarray) -> np.ndarray:
            self.velocity = self.mu * self.velocity + self.lr * grad
            return self.velocity

    f = parse_function("x^2")
    points, _, _, converged_at, diverged_at = _descend(
        f, np.array([1.0]), HeavyBall(0.1, 0.5), steps=3, tol=0.0, limit=1e12
    )
    # v1 = 0.2, x1 = 0.8; v2 = 0.1 + 0.16, x2 = 0.54; v3 = 0.13 + 0.108, x3 = 0.302
    np.testing.assert_allclose(np.array(points)[:, 0], [1.0, 0.8, 0.54, 0.302], rtol=1e-15)
    assert (converged_at, diverged_at) == (None, None)
    plain = _descend(f, np.array([1.0]), plain_step(0.1), steps=3, tol=0.0, limit=1e12)[0]
    np.testing.assert_array_equal(
        np.array(plain)[:, 0], minimize(f, 1.0, lr=0.1, steps=3, tol=0.0).points[:, 0]
    )


LEAVES = st.sampled_from(["x", "y", "2", "-3", "0.5", "1/3", "pi", "e", "(-8)", "(-1)", "0"])
NAMES = ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "exp", "log", "sqrt", "abs"]


def _formulas() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        calls = st.builds(lambda n, a: f"{n}({a})", st.sampled_from(NAMES), inner)
        ops = st.builds(
            lambda a, op, b: f"({a}){op}({b})",
            inner,
            st.sampled_from(["+", "-", "*", "/", "**"]),
            inner,
        )
        return calls | ops | st.builds(lambda a: f"-({a})", inner)

    return st.recursive(LEAVES, extend, max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(text=_formulas())
def test_any_formula_parses_to_a_real_function_or_is_refused_with_a_message(text: str) -> None:
    try:
        f = parse_function(text)
    except UsageError:
        return  # refused with a message: any other exception fails the test
    assert not f.expr.has(sympy.I)
    assert not any(g.has(sympy.I) for g in f.gradient_exprs)
    point = np.full(f.n_vars, 0.7)
    value, gradient = f.value(point), f.gradient(point)
    assert value.dtype == np.float64
    assert gradient.dtype == np.float64
    assert gradient.shape == (f.n_vars,)
