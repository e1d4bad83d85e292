"""The benchmark's update-rules table: each row steps the rule the classifier trains with,
its times are the best rounds it measured, and every ratio is computed from the two
timings it names. No timing is asserted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from gradlab.bench import report, update_rules
from gradlab.engines.numpy_mlp import NumpyMLP
from gradlab.optim import compiled


def _images(n: int, seed: int = 0) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """A learnable set: a random prototype per class plus noise, 28x28 uint8."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 256, (10, 28, 28))
    y = rng.integers(0, 10, n)
    X = np.clip(protos[y] + rng.normal(0.0, 60.0, (n, 28, 28)), 0, 255).astype(np.uint8)
    return X, y.astype(np.int64)


@pytest.fixture(scope="module")
def images() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    return _images(300)


# --- the rows measure the classifier's own training step ---------------------------------


def _record_nets(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record every NumpyMLP made from now on: its rule's config, fold, sizes, dtype."""
    made: list[dict[str, Any]] = []
    real = NumpyMLP.__init__

    def init(self: NumpyMLP, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        made.append(
            {"rule": self.rule.config(), "fold": self.fold, "sizes": self.sizes,
             "dtype": self.dtype, "compiled": self.compiled}
        )  # fmt: skip

    monkeypatch.setattr(NumpyMLP, "__init__", init)
    return made


@pytest.mark.parametrize("label", list(update_rules.RULES))
def test_each_row_steps_the_rule_and_fold_the_classifier_trains_with(
    label: str,
    images: tuple[np.ndarray, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gradlab.models import MLPClassifier

    X, y = images
    made = _record_nets(monkeypatch)
    hp = dict(update_rules.RULES[label])
    if not hp.pop("compiled", True):  # the classifier's steps with compiled steps turned off
        monkeypatch.setenv(compiled.ENV, "0")
    MLPClassifier(**hp, hidden=(200, 200), batch_size=256, epochs=1, engine="numpy").fit(X, y)
    update_rules.engine_step(update_rules.RULES[label], X, y)
    assert len(made) == 2
    classifier, bench = made
    assert bench == classifier
    assert bench["sizes"] == update_rules.SIZES
    assert bench["dtype"] == np.float32


def test_the_numpy_passes_row_is_adam_without_its_compiled_step(
    images: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = images
    _, passes = update_rules.engine_step(update_rules.RULES["Adam, NumPy passes"], X, y)
    _, adam = update_rules.engine_step(update_rules.RULES["Adam"], X, y)
    assert passes.compiled is False
    assert adam.compiled is compiled.available()
    assert passes.rule == adam.rule
    rule, fold = update_rules.classifier_rule(update_rules.RULES["Adam"])
    assert update_rules.describe(rule, fold, passes).endswith("; NumPy passes")
    if adam.compiled:
        assert update_rules.describe(rule, fold, adam).endswith("; compiled step (numba)")


def test_the_reference_is_the_benchmarks_plain_sgd_step() -> None:
    rule, fold = update_rules.classifier_rule(update_rules.RULES[update_rules.REFERENCE])
    assert rule.config() == {
        "name": "sgd", "lr": 0.1, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
        "nesterov": False,
    }  # fmt: skip
    assert fold  # the engine's plain SGD: one subtraction
    names = {
        update_rules.classifier_rule(hp)[0].config()["name"] for hp in update_rules.RULES.values()
    }
    assert {"sgd", "adam"} <= names


def test_engine_step_is_one_train_step_of_256_rows_at_the_rules_rate(
    images: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = images
    seen: dict[str, list[tuple[np.ndarray, float]]] = {}
    for label in ("plain SGD", "Adam"):
        step, net = update_rules.engine_step(update_rules.RULES[label], X, y)
        calls: list[tuple[np.ndarray, float]] = []
        real = net.train_step

        def train_step(data: Any, idx: np.ndarray, lr: float, real: Any = real,
                       calls: Any = calls) -> tuple[float, int]:  # fmt: skip
            calls.append((idx.copy(), lr))
            return real(data, idx, lr)  # type: ignore[no-any-return]

        net.train_step = train_step  # type: ignore[method-assign]
        before = net.flat.copy()
        for _ in range(update_rules.N_BATCHES + 1):
            step()
        assert not np.array_equal(net.flat, before)  # the step updates the weights
        assert int(net.opt_state.step) == update_rules.N_BATCHES + 1
        seen[label] = calls
        rule, _ = update_rules.classifier_rule(update_rules.RULES[label])
        assert {lr for _, lr in calls} == {rule.lr}
        assert {len(idx) for idx, _ in calls} == {update_rules.BATCH}
        # the batches cycle: the step after the last batch is the first batch again
        np.testing.assert_array_equal(calls[-1][0], calls[0][0])
    # every rule steps over the very same batches
    for (a, _), (b, _) in zip(seen["plain SGD"], seen["Adam"], strict=True):
        np.testing.assert_array_equal(a, b)


# --- the timer: best round per call, interleaved ------------------------------------------


class FakeClock:
    """A clock the steps advance: wall by their duration, CPU by half of it."""

    def __init__(self) -> None:
        self.now = 0.0

    def wall(self) -> float:
        return self.now

    def cpu(self) -> float:
        return self.now / 2


def test_interleaved_best_keeps_each_steps_best_round_per_call() -> None:
    clock = FakeClock()
    order: list[str] = []
    # per call durations: warm-up calls (2 each) then 3 rounds of 2 calls each
    durations = {
        "a": iter([9.0, 9.0, 1.0, 3.0, 2.0, 1.0, 5.0, 5.0]),
        "b": iter([9.0, 9.0, 4.0, 4.0, 0.5, 0.7, 1.0, 1.0]),
    }

    def step(name: str) -> Callable[[], None]:
        def call() -> None:
            order.append(name)
            clock.now += next(durations[name])

        return call

    best = update_rules.interleaved_best(
        {"a": step("a"), "b": step("b")}, rounds=3, calls=2, warmup=2,
        clocks=(clock.wall, clock.cpu),
    )  # fmt: skip
    # a's rounds: (1+3)/2 = 2, (2+1)/2 = 1.5, (5+5)/2 = 5; b's: 4, 0.6, 1
    assert best["a"] == pytest.approx((1.5, 0.75))
    assert best["b"] == pytest.approx((0.6, 0.3))
    # warm-up first, then the rounds take turns: a a b b, a a b b, ...
    assert order == ["a", "a", "b", "b"] + ["a", "a", "b", "b"] * 3


# --- the table: its numbers are the timer's, its ratios come from them ---------------------


@pytest.fixture(scope="module")
def tiny_tables(images: tuple[np.ndarray, np.ndarray]) -> tuple[list[Any], list[Any]]:
    X, y = images
    measured: list[dict[str, tuple[float, float]]] = []
    real = update_rules.interleaved_best

    def recorded(*args: Any, **kwargs: Any) -> dict[str, tuple[float, float]]:
        best = real(*args, **kwargs)
        measured.append(best)
        return best

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(update_rules, "interleaved_best", recorded)
        tables = update_rules.tables(
            X, y, thread_counts=(1, 2, 1), rounds=2, calls=3, log=lambda m: None
        )
    return tables, measured


def test_one_table_per_thread_count(tiny_tables: tuple[list[Any], list[Any]]) -> None:
    tables, measured = tiny_tables
    assert [t[0]["threads"] for t in tables] == [1, 2]  # the repeated 1 is dropped
    assert len(measured) == 2
    for table in tables:
        assert [r["path"] for r in table] == list(update_rules.RULES)
        assert len({r["job"] for r in table}) == 1
        assert sum(bool(r.get("gradlab")) for r in table) == 1
        assert table[0]["path"] == update_rules.REFERENCE


def test_rows_report_the_timers_best_and_the_steps_they_took(
    tiny_tables: tuple[list[Any], list[Any]],
) -> None:
    tables, measured = tiny_tables
    for table, best in zip(tables, measured, strict=True):
        for r in table:
            assert (r["seconds"], r["cpu_seconds"]) == best[r["path"]]
            assert (r["rounds"], r["calls"]) == (2, 3)
            assert r["steps"] == update_rules.WARMUP_STEPS + 2 * 3
            assert r["finite"] is True
            assert r["result"] is None


def test_every_ratio_is_computed_from_the_two_timings_it_names(
    tiny_tables: tuple[list[Any], list[Any]],
) -> None:
    tables, _ = tiny_tables
    for table in tables:
        ref = next(r for r in table if r.get("gradlab"))
        for r in table:
            assert r["ratio"] == pytest.approx(r["seconds"] / ref["seconds"], rel=1e-12)
            assert r["cpu_ratio"] == pytest.approx(r["cpu_seconds"] / ref["cpu_seconds"], rel=1e-12)
            assert r["update_seconds"] == pytest.approx(r["seconds"] - ref["seconds"], abs=1e-15)


def test_a_table_needs_its_reference(images: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = images
    with pytest.raises(ValueError, match="must include the reference 'plain SGD'"):
        update_rules.table(
            X, y, threads=1, rounds=1, calls=1, rules={"Adam": update_rules.RULES["Adam"]},
            log=lambda m: None,
        )  # fmt: skip


# --- the Markdown ---------------------------------------------------------------------------


def test_markdown_shows_every_row_with_its_own_numbers(
    tiny_tables: tuple[list[Any], list[Any]],
) -> None:
    tables, _ = tiny_tables
    text = "\n".join(report.update_rules_markdown(tables))
    lines = text.splitlines()
    for table in tables:
        assert f"### {table[0]['job']}" in lines
        for r in table:
            cells = report.rule_cells(r)
            assert "| " + " | ".join(cells) + " |" in lines
            assert cells[1] == report.micro_text(r["seconds"])
            assert cells[2] == f"{r['ratio']:.3f}x"
            assert cells[4] == report.micro_text(r["cpu_seconds"])
    assert "**How to read these tables.**" in text
    adam = next(r for r in tables[0] if r["path"] == "Adam")
    assert f"{adam['ratio']:.3f}x on 1 thread" in text


def _rows(adam_ratios: dict[int, float], finite: bool = True) -> list[list[dict[str, Any]]]:
    """Tables with plain SGD at 1 ms and Adam at the given ratio, per thread count."""
    out = []
    for n, ratio in adam_ratios.items():
        job = f"update rules, {n}"
        sgd = {"job": job, "path": "plain SGD", "seconds": 1e-3, "ratio": 1.0,
               "cpu_ratio": 1.0, "threads": n, "finite": True}  # fmt: skip
        adam = {"job": job, "path": "Adam", "seconds": ratio * 1e-3, "ratio": ratio,
                "cpu_ratio": ratio, "threads": n, "finite": finite}  # fmt: skip
        out.append([sgd, adam])
    return out


@pytest.mark.parametrize(
    ("ratios", "verdict"),
    [
        ({1: 1.10, 2: 1.14}, "is met in every table."),
        ({1: 1.20, 2: 1.30}, "is not met in any table."),
        ({1: 1.10, 2: 1.30}, "is met on 1 thread only."),
        ({1: 1.15, 4: 1.16}, "is met on 1 thread only."),  # at most 1.15: 1.15 meets it
    ],
)
def test_reading_states_adams_ratios_and_the_targets_verdict(
    ratios: dict[int, float], verdict: str
) -> None:
    text = report.update_rules_reading(_rows(ratios))
    for n, ratio in ratios.items():
        assert f"{ratio:.3f}x on {n} thread" in text
    assert text.endswith(verdict)


def test_reading_warns_of_non_finite_weights() -> None:
    text = report.update_rules_reading(_rows({1: 1.1}, finite=False))
    assert "The weights of Adam (1 thread) became non-finite" in text
    assert "NON-FINITE" in report.rule_cells(
        {**_rows({1: 1.1}, finite=False)[0][1], "update_seconds": 0.0, "cpu_seconds": 1e-3,
         "gradlab": False, "note": "adam"}
    )[-1]  # fmt: skip


@pytest.mark.parametrize(
    ("note", "how"),
    [
        ("adam (lr 0.001); compiled step (numba)", "Adam's step (compiled) was"),
        ("adam (lr 0.001); NumPy passes", "Adam's step (NumPy passes: numba not installed,"),
    ],
)
def test_reading_says_whether_adams_step_was_compiled(note: str, how: str) -> None:
    tables = _rows({1: 1.05})
    tables[0][1]["note"] = note
    assert how in report.update_rules_reading(tables)
