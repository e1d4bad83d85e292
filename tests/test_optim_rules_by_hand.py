"""The update rules' first steps against their formulas, worked out by hand: these need no
PyTorch, so the formulas are checked where it is not installed too (test_optim_rules.py
compares 200 steps with torch.optim where it is).

Each expected value is written from the formula in the rule's docstring, in plain Python
floats, not by calling the rule. Both sides do a handful of float64 operations on numbers
of order 1, each rounding by at most 2**-53 of its result, so they agree to within a few
ulps of the largest magnitude involved; ``close`` allows 16.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradlab.optim.rules import SGD, Adagrad, Adam, AdamW, RMSprop, Rule

EPS = np.finfo(np.float64).eps


def run(rule: Rule, p0: list[float], grads: list[list[float]]) -> np.ndarray:
    """The parameters after one step per gradient, from ``p0``."""
    p = np.array(p0, dtype=np.float64)
    state = rule.init([p])
    for g in grads:
        rule.step([p], [np.array(g, dtype=np.float64)], state)
    return p


def close(got: np.ndarray, expected: list[float]) -> None:
    scale = max(1.0, *(abs(x) for x in expected))
    np.testing.assert_allclose(got, expected, rtol=0, atol=16 * EPS * scale)


P0 = [1.0, 2.0, -1.0, 0.5]
G1 = [3.0, -0.5, 1e-3, -200.0]
G2 = [-1.0, -0.25, 2.0, 50.0]


def sign(x: float) -> float:
    return math.copysign(1.0, x)


# ------------------------------------------------------------------ SGD


def test_sgd_steps_against_the_gradient() -> None:
    lr = 0.1
    expected = [p - lr * g1 - lr * g2 for p, g1, g2 in zip(P0, G1, G2, strict=True)]
    close(run(SGD(lr=lr), P0, [G1, G2]), expected)


def test_momentum_second_step_adds_the_decayed_first_gradient() -> None:
    lr, mu = 0.1, 0.9
    expected = []
    for p, g1, g2 in zip(P0, G1, G2, strict=True):
        p1 = p - lr * g1  # step 1: buf = g1
        expected.append(p1 - lr * (mu * g1 + g2))  # step 2: buf = mu*g1 + g2
    close(run(SGD(lr=lr, momentum=mu), P0, [G1, G2]), expected)


def test_dampening_spares_the_first_step_and_scales_later_gradients() -> None:
    lr, mu, damp = 0.1, 0.9, 0.25
    expected = []
    for p, g1, g2 in zip(P0, G1, G2, strict=True):
        p1 = p - lr * g1  # step 1: buf = g1, undamped
        expected.append(p1 - lr * (mu * g1 + (1 - damp) * g2))
    close(run(SGD(lr=lr, momentum=mu, dampening=damp), P0, [G1, G2]), expected)


def test_nesterov_steps_look_ahead_along_the_buffer() -> None:
    lr, mu = 0.1, 0.9
    expected = []
    for p, g1, g2 in zip(P0, G1, G2, strict=True):
        p1 = p - lr * (g1 + mu * g1)  # step 1: buf = g1, d = g1 + mu*buf
        buf2 = mu * g1 + g2
        expected.append(p1 - lr * (g2 + mu * buf2))
    close(run(SGD(lr=lr, momentum=mu, nesterov=True), P0, [G1, G2]), expected)


def test_sgd_weight_decay_adds_to_the_gradient() -> None:
    lr, wd = 0.1, 0.01
    expected = [p - lr * (g + wd * p) for p, g in zip(P0, G1, strict=True)]
    close(run(SGD(lr=lr, weight_decay=wd), P0, [G1]), expected)


# ------------------------------------------------------------------ AdaGrad


def test_adagrad_second_step_divides_by_the_summed_squares_at_a_decayed_rate() -> None:
    lr, decay, eps = 0.1, 0.5, 1e-10
    expected = []
    for p, g1, g2 in zip(P0, G1, G2, strict=True):
        total = g1 * g1
        p1 = p - lr * g1 / (math.sqrt(total) + eps)  # t = 1: the full rate
        total += g2 * g2
        expected.append(p1 - lr / (1 + decay) * g2 / (math.sqrt(total) + eps))  # t = 2
    close(run(Adagrad(lr=lr, lr_decay=decay), P0, [G1, G2]), expected)


def test_adagrad_starts_its_sum_at_the_initial_accumulator_value() -> None:
    lr, init = 0.1, 16.0
    # g = 3 on a sum of 16: sqrt(25) = 5, a step of lr * 3/5
    close(run(Adagrad(lr=lr, initial_accumulator_value=init, eps=0.0), [1.0], [[3.0]]), [0.94])


# ------------------------------------------------------------------ RMSProp


def test_rmsprop_first_step_is_lr_over_sqrt_of_1_minus_alpha() -> None:
    # square_avg = (1 - alpha) g^2, so the first step is lr * sign(g) / sqrt(1 - alpha):
    # ten times the rate for alpha = 0.99
    lr, alpha = 0.01, 0.99
    expected = [p - lr * sign(g) / math.sqrt(1 - alpha) for p, g in zip(P0, G1, strict=True)]
    close(run(RMSprop(lr=lr, alpha=alpha, eps=0.0), P0, [G1]), expected)


def test_centered_rmsprop_first_step_subtracts_the_squared_mean() -> None:
    # square_avg - grad_avg^2 = (1 - alpha) g^2 - (1 - alpha)^2 g^2 = alpha (1 - alpha) g^2
    lr, alpha = 0.01, 0.99
    expected = [
        p - lr * sign(g) / math.sqrt(alpha * (1 - alpha)) for p, g in zip(P0, G1, strict=True)
    ]
    close(run(RMSprop(lr=lr, alpha=alpha, eps=0.0, centered=True), P0, [G1]), expected)


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_second_step_keeps_running_means(centered: bool) -> None:
    lr, alpha, eps = 0.01, 0.9, 1e-8
    expected = []
    for p, g1, g2 in zip(P0, G1, G2, strict=True):
        sq, mean = (1 - alpha) * g1 * g1, (1 - alpha) * g1
        p1 = p - lr * g1 / (math.sqrt(sq - (mean * mean if centered else 0.0)) + eps)
        sq = alpha * sq + (1 - alpha) * g2 * g2
        mean = alpha * mean + (1 - alpha) * g2
        expected.append(p1 - lr * g2 / (math.sqrt(sq - (mean * mean if centered else 0.0)) + eps))
    close(run(RMSprop(lr=lr, alpha=alpha, eps=eps, centered=centered), P0, [G1, G2]), expected)


def test_rmsprop_momentum_accumulates_the_scaled_gradients() -> None:
    lr, alpha, mom, eps = 0.01, 0.9, 0.5, 1e-8
    expected = []
    for p, g1, g2 in zip(P0, G1, G2, strict=True):
        sq = (1 - alpha) * g1 * g1
        buf = g1 / (math.sqrt(sq) + eps)
        p1 = p - lr * buf
        sq = alpha * sq + (1 - alpha) * g2 * g2
        buf = mom * buf + g2 / (math.sqrt(sq) + eps)
        expected.append(p1 - lr * buf)
    close(run(RMSprop(lr=lr, alpha=alpha, eps=eps, momentum=mom), P0, [G1, G2]), expected)


# ------------------------------------------------------------------ Adam and AdamW


def test_adam_first_step_is_lr_times_the_gradients_sign() -> None:
    # with eps = 0 the bias corrections make m_hat = g and v_hat = g^2 after one step
    lr = 0.1
    expected = [p - lr * sign(g) for p, g in zip(P0, G1, strict=True)]
    close(run(Adam(lr=lr, eps=0.0), P0, [G1]), expected)


def test_adam_adds_eps_to_the_corrected_root_mean_square() -> None:
    # eps is added to sqrt(v_hat), not to sqrt(v): with g = 1 the first step is lr / (1 + eps)
    lr, eps = 0.1, 0.25
    close(run(Adam(lr=lr, eps=eps), [1.0, -1.0], [[1.0, -1.0]]), [1 - lr / 1.25, -1 + lr / 1.25])


def test_adam_second_step_corrects_both_averages_for_starting_at_zero() -> None:
    lr, b1, b2 = 0.1, 0.8, 0.9
    expected = []
    for p, g1, g2 in zip(P0, G1, G2, strict=True):
        p1 = p - lr * sign(g1)
        m = b1 * (1 - b1) * g1 + (1 - b1) * g2
        v = b2 * (1 - b2) * g1 * g1 + (1 - b2) * g2 * g2
        expected.append(p1 - lr * (m / (1 - b1**2)) / math.sqrt(v / (1 - b2**2)))
    close(run(Adam(lr=lr, betas=(b1, b2), eps=0.0), P0, [G1, G2]), expected)


# g = 0.05 at p = -1 with weight decay 0.1: Adam adds wd * p = -0.1 to the gradient, whose
# sign flips; AdamW shrinks p and steps along the gradient's own sign
WD_P, WD_G, WD, WD_LR = [-1.0], [[0.05]], 0.1, 0.1


def test_adam_weight_decay_enters_the_gradient() -> None:
    g = WD_G[0][0] + WD * WD_P[0]  # -0.05
    expected = [WD_P[0] - WD_LR * sign(g)]  # -1 + lr
    close(run(Adam(lr=WD_LR, eps=0.0, weight_decay=WD), WD_P, WD_G), expected)


def test_adamw_first_step_decays_the_parameters_then_takes_adams_step() -> None:
    expected = [WD_P[0] * (1 - WD_LR * WD) - WD_LR * sign(WD_G[0][0])]  # -0.99 - lr
    close(run(AdamW(lr=WD_LR, eps=0.0, weight_decay=WD), WD_P, WD_G), expected)


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_amsgrad_divides_by_the_largest_second_moment_seen(cls: type[Adam]) -> None:
    # a large then a small gradient: v falls on step 2, vmax keeps step 1's
    lr, b1, b2 = 0.1, 0.5, 0.5
    g1, g2 = 4.0, 0.0
    m = b1 * (1 - b1) * g1  # + (1 - b1) * g2, which is 0
    vmax = (1 - b2) * g1 * g1  # v on step 2 is b2 * (1 - b2) g1^2, smaller
    p1 = 1.0 - lr  # step 1: lr * sign(g1)
    expected = p1 - lr * (m / (1 - b1**2)) / math.sqrt(vmax / (1 - b2**2))
    rule = cls(lr=lr, betas=(b1, b2), eps=0.0, weight_decay=0.0, amsgrad=True)
    close(run(rule, [1.0], [[g1], [g2]]), [expected])
