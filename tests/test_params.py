"""The validation module: each constraint's accept/refuse rules and the one message style."""

from numbers import Integral, Real

import numpy as np
import pytest

from gradlab.errors import UsageError
from gradlab.params import Interval, Options, Predicate, describe, validate, validate_one

POSITIVE = Interval(Real, 0, None, closed="neither")
COUNT = Interval(Integral, 1, None)


@pytest.mark.parametrize("value", [1e-9, 1, 3.5, np.float32(2), np.int64(4)])
def test_positive_interval_accepts_positive_numbers(value):
    assert POSITIVE.accepts(value)


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), True, "1", None, [1]])
def test_positive_interval_refuses_zero_negatives_nonfinite_bools_and_non_numbers(value):
    assert not POSITIVE.accepts(value)


def test_integral_interval_refuses_floats_even_when_whole():
    assert COUNT.accepts(3)
    assert COUNT.accepts(np.int32(3))
    assert not COUNT.accepts(3.0)
    assert not COUNT.accepts(0)


def test_an_integer_beyond_float64_is_refused_not_an_overflow():
    """float() of an integer of over 308 digits raises OverflowError: the check says no."""
    assert not COUNT.accepts(10**400)
    assert not POSITIVE.accepts(-(10**400))
    with pytest.raises(UsageError, match="M: batch_size must be an integer >= 1; got 1000"):
        validate_one("batch_size", 10**400, COUNT, "M")


def test_closed_bounds_follow_the_closed_argument():
    unit = Interval(Real, 0, 1, closed="left")
    assert unit.accepts(0)
    assert unit.accepts(0.5)
    assert not unit.accepts(1)
    assert describe(unit) == "a number in [0, 1)"


def test_options_compare_by_value_and_never_take_a_bool_for_an_integer():
    opts = Options(("batch", "sgd", 1))
    assert opts.accepts("sgd")
    assert opts.accepts(np.str_("batch"))
    assert opts.accepts(1)
    assert not opts.accepts(True)
    assert not opts.accepts(np.array(["sgd", "sgd"]))


def test_predicate_that_raises_counts_as_refusal():
    widths = Predicate(lambda v: all(int(w) >= 1 for w in v), "a sequence of widths >= 1")
    assert widths.accepts((200, 200))
    assert not widths.accepts(5)  # iterating an int raises TypeError


def test_message_names_owner_parameter_rule_and_value():
    with pytest.raises(UsageError) as err:
        validate_one("lr", -1, POSITIVE, "LinearRegression")
    assert str(err.value) == "LinearRegression: lr must be a number > 0; got -1."


def test_list_of_constraints_means_any_and_is_described_with_or():
    rule = [Interval(Integral, 0, None), None]
    validate_one("seed", None, rule, "f")
    validate_one("seed", 3, rule, "f")
    with pytest.raises(UsageError, match=r"seed must be an integer >= 0 or None; got -2\."):
        validate_one("seed", -2, rule, "f")


def test_long_values_are_shortened_in_the_message():
    with pytest.raises(UsageError) as err:
        validate_one("method", "x" * 200, Options(("batch",)), "M")
    message = str(err.value)
    assert len(message) < 160
    assert message.endswith("xxx....")


def test_validate_checks_every_declared_parameter_and_refuses_undeclared_ones():
    table = {"lr": POSITIVE, "epochs": COUNT}
    validate(table, {"lr": 0.1, "epochs": 3}, "M")
    with pytest.raises(UsageError, match="M: epochs must be an integer >= 1; got 0"):
        validate(table, {"lr": 0.1, "epochs": 0}, "M")
    with pytest.raises(KeyError, match="momentum"):
        validate(table, {"momentum": 0.9}, "M")


@pytest.mark.parametrize(
    "kwargs", [{"lr": "0.01"}, {"lr": -1.0}, {"epochs": 2.5}], ids=["a string", "< 0", "float"]
)
def test_a_bad_parameter_is_both_a_value_error_and_a_type_error(kwargs: dict) -> None:
    """As scikit-learn's InvalidParameterError is: 'except TypeError' missed lr='0.01'."""
    from gradlab.errors import InvalidParameterError
    from gradlab.models import LinearRegression

    for caught in (TypeError, ValueError, UsageError, InvalidParameterError):
        with pytest.raises(caught, match="LinearRegression: "):
            LinearRegression(**kwargs).fit([[1.0], [2.0]], [1.0, 2.0])
