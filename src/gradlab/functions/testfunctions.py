"""Built-in test functions of two variables, each with a start, its known minima and rates.

The optimisation literature compares update rules on a few classic surfaces; each shows
one way plain gradient descent struggles:

==================  ===========================================================
``rosenbrock``      a curved, narrow valley: steps across it must be small, so
                    progress along its floor is slow
``beale``           flat plateaus and steep walls: the gradient's size varies
                    by orders of magnitude over the plot
``himmelblau``      four minima of equal depth: where a run ends depends on
                    the rule, not only on the start
``saddle``          a saddle point on the way: near it the gradient vanishes
                    and plain descent lingers
``ill-conditioned`` a quadratic 50 times steeper across than along: the
                    textbook zigzag
==================  ===========================================================

Each :class:`TestFunction` carries its formula (in the grammar of
:func:`~gradlab.functions.parse_function`), a default start, its minima and the value
there, a default step budget, a box to draw, and two default learning rates:

- ``lr`` for the SGD family (``sgd``, ``momentum``, ``nesterov``): about half of the
  largest stable rate of plain descent at the minimum (``2 / L``, ``L`` the Hessian's
  largest eigenvalue there) and below Nesterov's limit (``0.68 * 2 / L`` with momentum
  0.9), so that all three are stable near the minimum and a race shows what momentum
  adds at the same rate;
- ``step`` for the adaptive rules (``adagrad``, ``rmsprop``, ``adam``, ``adamw``), whose
  rate is about the distance each coordinate moves per step, not a multiple of the
  gradient: a tenth or so of the distance from the start to the minimum's scale.

:func:`default_rate` gives the rate an optimizer takes when none is asked for; for a
formula typed by hand both rates are :data:`EXPRESSION_RATE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from gradlab.errors import UsageError
from gradlab.functions.function import Function
from gradlab.functions.parse import parse_function

__all__ = [
    "ADAPTIVE_RULES",
    "EXPRESSION_RATE",
    "TEST_FUNCTIONS",
    "TestFunction",
    "default_rate",
    "test_function",
]

#: The rules whose rate is a step length (each coordinate moves by about ``lr``), not a
#: multiple of the gradient.
ADAPTIVE_RULES: tuple[str, ...] = ("adagrad", "rmsprop", "adam", "adamw")

#: The default rate of every optimizer on a formula typed by hand (``gradlab descend``'s
#: historical ``--lr``).
EXPRESSION_RATE = 0.05


@dataclass(frozen=True)
class TestFunction:
    """A classic optimisation test surface with what is known about it.

    Parameters
    ----------
    name : str
        What ``gradlab descend NAME`` calls it.
    text : str
        The formula in ``x`` and ``y``.
    start : (float, float)
        The default starting point.
    minima : tuple of (float, float)
        Every global minimum (several for ``himmelblau``).
    f_min : float
        The value at the minima.
    lr : float
        The default rate of the SGD family (see the module docstring).
    step : float
        The default rate of the adaptive rules.
    steps : int
        The default step budget.
    view : ((float, float), (float, float))
        The box ``((x_lo, x_hi), (y_lo, y_hi))`` a picture shows.
    about : str
        One sentence: what the surface shows.
    saddles : tuple of (float, float), default ()
        Saddle points worth marking on a picture.
    """

    __test__: ClassVar[bool] = False  # a library class, not a pytest test class

    name: str
    text: str
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    f_min: float
    lr: float
    step: float
    steps: int
    view: tuple[tuple[float, float], tuple[float, float]]
    about: str
    saddles: tuple[tuple[float, float], ...] = ()

    @property
    def function(self) -> Function:
        """The parsed formula (parsed once per process)."""
        return _parsed(self.text)

    def rate(self, optimizer: str) -> float:
        """The default learning rate of the optimizer named ``optimizer`` on this surface."""
        return self.step if optimizer in ADAPTIVE_RULES else self.lr

    def describe(self) -> str:
        """One line: the minima and the start, e.g. ``minimum f(1, 1) = 0; start (-1.2, 1)``."""
        where = " and ".join(f"f({_pair(m)})" for m in self.minima)
        kind = "minima" if len(self.minima) > 1 else "minimum"
        return f"{kind} {where} = {self.f_min:g}; start ({_pair(self.start)})"


def _pair(point: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.6g}" for v in point)


@cache
def _parsed(text: str) -> Function:
    return parse_function(text)


# Himmelblau's other three minima have no closed form: the gradient's roots, found by Newton's
# method at 40 digits (mpmath.findroot) and rounded to float64.
_HIMMELBLAU_MINIMA = (
    (3.0, 2.0),
    (-2.805118086952745, 3.131312518250573),
    (-3.779310253377747, -3.2831859912861696),
    (3.5844283403304917, -1.8481265269644036),
)

#: The built-in surfaces by name.
TEST_FUNCTIONS: dict[str, TestFunction] = {
    f.name: f
    for f in (
        TestFunction(
            name="rosenbrock",
            text="(1 - x)**2 + 100*(y - x**2)**2",
            start=(-1.2, 1.0),
            minima=((1.0, 1.0),),
            f_min=0.0,
            lr=0.001,  # 2/L = 0.002 at (1, 1), L = 1001.6
            step=0.1,
            steps=1000,
            view=((-2.0, 2.0), (-1.0, 3.0)),
            about="a curved valley whose floor falls gently to (1, 1) between steep walls",
        ),
        TestFunction(
            name="beale",
            text="(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
            start=(1.0, 1.5),
            minima=((3.0, 0.5),),
            f_min=0.0,
            lr=0.003,  # 2/L = 0.041 at (3, 0.5), but the walls on the way are far steeper
            step=0.1,
            steps=500,
            view=((-1.0, 4.5), (-1.5, 2.5)),
            about="flat plateaus and steep walls: the gradient's size varies a thousandfold",
        ),
        TestFunction(
            name="himmelblau",
            text="(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
            start=(0.0, 0.0),
            minima=_HIMMELBLAU_MINIMA,
            f_min=0.0,
            lr=0.01,  # 2/L = 0.024 at (3, 2)
            step=0.1,
            steps=500,
            view=((-5.5, 5.5), (-5.5, 5.5)),
            about="four minima of equal depth: which one a run reaches depends on the rule",
        ),
        TestFunction(
            name="saddle",
            text="x**2 + y**4/4 - y**2/2",
            start=(1.5, 0.001),
            minima=((0.0, 1.0), (0.0, -1.0)),
            f_min=-0.25,
            lr=0.05,  # 2/L = 1 at (0, +-1); small enough to show the wait at the saddle
            step=0.05,
            steps=200,
            view=((-2.0, 2.0), (-1.8, 1.8)),
            about="a saddle at (0, 0) on the way: the gradient there is nearly zero",
            saddles=((0.0, 0.0),),
        ),
        TestFunction(
            name="ill-conditioned",
            text="x**2/2 + 25*y**2",
            start=(-4.0, 1.0),
            minima=((0.0, 0.0),),
            f_min=0.0,
            lr=0.025,  # 2/L = 0.04 (L = 50), Nesterov's limit 0.0272
            step=0.1,
            steps=200,
            view=((-5.0, 5.0), (-2.0, 2.0)),
            about="a quadratic bowl 50 times steeper across than along (condition number 50)",
        ),
    )
}


def test_function(name: str) -> TestFunction:
    """The built-in test function called ``name`` (one of :data:`TEST_FUNCTIONS`).

    Raises
    ------
    UsageError
        ``name`` is not one of them; the message lists them.
    """
    if name not in TEST_FUNCTIONS:
        raise UsageError(
            f"no test function {name!r}; the built-in ones are {', '.join(TEST_FUNCTIONS)}."
        )
    return TEST_FUNCTIONS[name]


test_function.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def default_rate(optimizer: str, function: TestFunction | None = None) -> float:
    """The learning rate ``optimizer`` takes when none is given.

    Parameters
    ----------
    optimizer : str
        A name from :data:`gradlab.optim.RULES`.
    function : TestFunction, optional
        The surface; None for a formula typed by hand (:data:`EXPRESSION_RATE`).
    """
    return EXPRESSION_RATE if function is None else function.rate(optimizer)
