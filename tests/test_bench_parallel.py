"""The benchmark's data-parallel section: its rows report the fits they timed, every ratio
comes from the two timings it names, and its paragraph says what the numbers say. No
timing is asserted."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from gradlab.bench import parallel, report


@dataclasses.dataclass
class Data:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _data(n: int = 400, n_test: int = 100, seed: int = 0) -> Data:
    """A learnable set: a random prototype per class plus noise, 28x28 uint8."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 256, (10, 28, 28))
    y = rng.integers(0, 10, n + n_test)
    X = np.clip(protos[y] + rng.normal(0.0, 60.0, (len(y), 28, 28)), 0, 255).astype(np.uint8)
    return Data(X[:n], y[:n].astype(np.int64), X[n:], y[n:].astype(np.int64))


# --- the paths -------------------------------------------------------------------------------


def test_paths_are_threads_then_one_thread_then_workers_then_numpy() -> None:
    spec = parallel.paths(n_cores=2, procs=2)
    assert [(engine, p, t) for _, engine, p, t, _ in spec] == [
        ("torch", 1, 2), ("torch", 1, 1), ("torch", 2, 1), ("numpy", 1, "auto"),
    ]  # fmt: skip
    assert [label for label, *_ in spec] == [
        "torch, 1 process x 2 threads",
        "torch, 1 process x 1 thread",
        "torch, 2 processes x 1 thread",
        "numpy, 1 process (reference)",
    ]


def test_on_one_core_the_one_thread_row_is_not_repeated() -> None:
    spec = parallel.paths(n_cores=1, procs=3)
    assert [(engine, p, t) for _, engine, p, t, _ in spec] == [
        ("torch", 1, 1), ("torch", 3, 1), ("numpy", 1, "auto"),
    ]  # fmt: skip


def test_make_fit_trains_the_benchmarks_mlp_with_the_given_workers_and_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gradlab.models

    made: list[Any] = []

    class Recorded(gradlab.models.MLPClassifier):
        def fit(self, *args: Any, **kwargs: Any) -> Any:
            made.append((self, kwargs))
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(gradlab.models, "MLPClassifier", Recorded)
    data = _data(300, 100)
    r = parallel.make_fit(data, "numpy", 1, 1, epochs=2)()
    ((model, kwargs),) = made
    params = model.get_params()
    assert {k: params[k] for k in ("hidden", "lr", "momentum", "batch_size", "epochs",
                                   "engine", "device", "cpu_threads", "n_procs")} == {
        "hidden": (200, 200), "lr": 0.1, "momentum": 0.0, "batch_size": 256, "epochs": 2,
        "engine": "numpy", "device": "cpu", "cpu_threads": 1, "n_procs": 1,
    }  # fmt: skip
    assert kwargs["eval_set"][0] is data.X_test
    # the row's numbers are this fit's own
    assert r["train"] == sum(model.history_["seconds"])
    assert r["accuracy"] == model.history_["test_accuracy"][-1]
    assert r["epochs"] == 2
    assert r["wall"] >= r["train"]


# --- the rows: best rounds, interleaved, ratios from the two timings -----------------------


def _fake_fits(runs: dict[str, list[dict[str, float]]], order: list[str]) -> dict[str, Any]:
    """Fits that return the given runs in turn and record the order of the calls."""
    its = {label: iter(rs) for label, rs in runs.items()}

    def fit(label: str) -> Callable[[], dict[str, float]]:
        def call() -> dict[str, float]:
            order.append(label)
            return next(its[label])

        return call

    return {label: fit(label) for label in runs}


def _run(train: float, wall: float, acc: float, workers: int = 1) -> dict[str, float]:
    return {"train": train, "wall": wall, "accuracy": acc, "epochs": 1.0,
            "world_size": float(workers)}  # fmt: skip


@pytest.fixture
def fake_rows() -> tuple[list[dict[str, Any]], list[str]]:
    labels = [label for label, *_ in parallel.paths(2, 2)]
    threads, one, two, numpy = labels
    runs = {
        # a warm-up (untimed), then two rounds
        threads: [_run(9, 9, 0), _run(0.5, 0.6, 0.80), _run(0.4, 0.45, 0.81)],
        one: [_run(9, 9, 0), _run(0.7, 0.75, 0.80), _run(0.8, 0.85, 0.81)],
        two: [_run(1.2, 10.0, 0.805, 2), _run(1.1, 12.0, 0.79, 2)],  # no warm-up
        numpy: [_run(9, 9, 0), _run(1.5, 1.6, 0.75), _run(1.6, 1.7, 0.7)],
    }
    order: list[str] = []
    rows = parallel.fit_rows(
        _data(300, 100), epochs=1, rounds=2, procs=2, n_cores=2,
        fits=_fake_fits(runs, order), log=lambda m: None,
    )  # fmt: skip
    return rows, order


def test_rows_take_turns_after_warming_up_the_in_process_fits(
    fake_rows: tuple[list[dict[str, Any]], list[str]],
) -> None:
    rows, order = fake_rows
    threads, one, two, numpy = (r["path"] for r in rows)
    assert order == [threads, one, numpy] + [threads, one, two, numpy] * 2


def test_each_row_reports_its_best_rounds_own_numbers(
    fake_rows: tuple[list[dict[str, Any]], list[str]],
) -> None:
    rows, _ = fake_rows
    got = [(r["seconds"], r["wall_seconds"], r["result"]) for r in rows]
    # the best round by training time, with that round's wall time and accuracy
    assert got == [(0.4, 0.45, 0.81), (0.7, 0.75, 0.80), (1.1, 12.0, 0.79), (1.5, 1.6, 0.75)]
    assert [(r["procs"], r["threads"], r["world_size"]) for r in rows] == [
        (1, 2, 1), (1, 1, 1), (2, 1, 2), (1, "auto", 1),
    ]  # fmt: skip
    assert rows[0]["gradlab"]
    assert sum(bool(r.get("gradlab")) for r in rows) == 1
    assert len({r["job"] for r in rows}) == 1
    assert rows[0]["job"] == "data parallelism: MLP 784-200-200-10, 300+100 images, 1 epoch"
    assert all(r["note"].endswith("; best of 2") for r in rows)


def test_ratios_and_agreement_come_from_the_first_rows_timings(
    fake_rows: tuple[list[dict[str, Any]], list[str]],
) -> None:
    rows, _ = fake_rows
    ref = rows[0]
    for r in rows:
        assert r["ratio"] == pytest.approx(r["seconds"] / ref["seconds"], rel=1e-12)
        assert r["wall_ratio"] == pytest.approx(r["wall_seconds"] / ref["wall_seconds"], rel=1e-12)
    assert [r["agrees"] for r in rows] == ["yes", "yes", "no (-0.020)", "no (-0.060)"]


def test_step_ratios_are_the_two_timings_they_name() -> None:
    parts = parallel.with_ratios({"allreduce": 0.6e-3, "block": 2.4e-3, "batch": 3e-3,
                                  "ddp": 6e-3})  # fmt: skip
    assert parts["allreduce_over_block"] == pytest.approx(0.6 / 2.4)
    assert parts["ddp_over_batch"] == pytest.approx(6 / 3)


def test_probe_outside_a_job_says_where_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match=r"probe runs in the workers of a job"):
        parallel.probe(np.zeros((4, 784), np.uint8), np.zeros(4, np.int64), 1, 1)


# --- the Markdown and its paragraph ---------------------------------------------------------


def _section(
    threads: float = 0.5, one: float = 0.7, two: float = 1.1, allreduce: float = 0.65e-3,
    block: float = 2.1e-3, agree: float = 0.8, n_cores: int = 2,
) -> dict[str, Any]:  # fmt: skip
    """A section with the given training seconds and step parts (on one core, ``one`` is
    left out: the first row is then 1 process x 1 thread)."""
    spec = parallel.paths(n_cores, 2)
    seconds = {"torch": [threads, one] if n_cores > 1 else [threads], "numpy": [1.5]}
    runs = {}
    for label, engine, p, _, _ in spec:
        s = two if p > 1 else seconds[engine].pop(0)
        timed = _run(s, s + (10 if p > 1 else 0.05), agree if p > 1 else 0.8, p)
        runs[label] = [timed] if p > 1 else [_run(9, 9, 0), timed]
    rows = parallel.fit_rows(_data(300, 100), epochs=1, rounds=1, procs=2, n_cores=n_cores,
                             fits=_fake_fits(runs, []), log=lambda m: None)  # fmt: skip
    step = parallel.with_ratios({
        "params": 199210.0, "workers": 2.0, "block_rows": 128.0, "allreduce": allreduce,
        "block": block, "batch": 2.9e-3, "ddp": 5.5e-3, "steps": 50.0,
    })  # fmt: skip
    return {"cores": n_cores, "procs": 2, "n_train": 300, "n_test": 100, "epochs": 1,
            "rounds": 1, "rows": rows, "step": step}  # fmt: skip


def test_markdown_shows_every_row_and_step_part_with_its_own_numbers() -> None:
    sec = _section()
    text = "\n".join(report.parallel_markdown(sec))
    lines = text.splitlines()
    assert f"### {sec['rows'][0]['job']}" in lines
    for r in sec["rows"]:
        cells = report.parallel_cells(r)
        assert "| " + " | ".join(cells) + " |" in lines
        assert cells[1:5] == [
            report.seconds_text(r["seconds"]), report.seconds_text(r["wall_seconds"]),
            f"{r['ratio']:.3g}x", f"{r['wall_ratio']:.3g}x",
        ]  # fmt: skip
    assert "| all-reduce of the 199,210 float32 gradients (gloo, loopback) | 0.65 ms |" in lines
    assert "| all-reduce / one worker's arithmetic | 0.31x |" in lines
    assert "| the whole DDP step (256 rows over 2 workers) | 5.5 ms |" in lines
    assert "first 300 + 100 of this run's images for 1 epoch" in text
    assert "median of 50 steps" in text


def test_reading_states_that_workers_lost_when_they_did() -> None:
    text = report.parallel_reading(_section(threads=0.5, one=0.7, two=1.1))
    assert "0.31x one worker's arithmetic for its 128 rows (2.1 ms), i.e. less than" in text
    assert "2 processes x 1 thread took 2.20x the training time of 1 process x 2 threads" in text
    assert f"and {1.1 / 0.7:.2f}x that of 1 process x 1 thread (and " in text
    assert "2 processes lost to one process's 2 threads and lost to its single thread." in text
    assert "One process trained faster on 1 thread" not in text
    assert "differs from the first row's" not in text


def test_reading_states_that_workers_won_when_they_did() -> None:
    text = report.parallel_reading(_section(threads=2.0, one=1.5, two=1.0, allreduce=2.1e-3))
    assert "1.00x one worker's arithmetic" in text
    assert "i.e. about as much as the arithmetic" in text
    assert "2 processes beat one process's 2 threads and beat its single thread." in text
    # the threads were slower than one thread: said, with the likely cause
    assert "One process trained faster on 1 thread than on 2 threads here" in text


def test_reading_on_one_core_compares_the_workers_with_the_one_thread() -> None:
    text = report.parallel_reading(_section(threads=0.7, two=1.4, n_cores=1))
    assert (
        "2 processes x 1 thread took 2.00x the training time of 1 process x 1 thread (and " in text
    )
    assert text.endswith("start-up included): in this run, data parallelism lost to threads.")


def test_reading_flags_an_accuracy_that_should_have_agreed() -> None:
    text = report.parallel_reading(_section(agree=0.7))
    assert (
        "The test accuracy of torch, 2 processes x 1 thread differs from the first row's by "
        "more than 0.01" in text
    )


def test_a_skipped_section_says_why() -> None:
    lines = report.parallel_markdown({"skipped": "PyTorch is not installed"})
    assert lines[-1] == "Not run: PyTorch is not installed."


# --- a real tiny section: two worker processes ------------------------------------------------


@pytest.mark.slow
@pytest.mark.torch
def test_tiny_section_runs_workers_and_takes_a_step_apart() -> None:
    pytest.importorskip("torch")
    sec = parallel.section(
        _data(600, 100), n_train=300, n_test=100, epochs=1, rounds=1, procs=2, steps=3,
        log=lambda m: None,
    )  # fmt: skip
    assert (sec["n_train"], sec["n_test"], sec["procs"]) == (300, 100, 2)
    rows = sec["rows"]
    assert [r["world_size"] for r in rows] == [r["procs"] for r in rows]
    assert any(r["world_size"] == 2 for r in rows)
    # the same SGD everywhere: every test accuracy agrees with the first row's
    assert {r["agrees"] for r in rows} == {"yes"}
    for r in rows:
        assert r["wall_seconds"] >= r["seconds"] > 0
        assert r["epochs"] == 1
    step = sec["step"]
    assert (step["workers"], step["block_rows"], step["params"], step["steps"]) == (
        2, 128, 784 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10, 3,
    )  # fmt: skip
    assert min(step[k] for k in ("allreduce", "block", "batch", "ddp")) > 0
    assert step["allreduce_over_block"] == step["allreduce"] / step["block"]
    assert step["ddp_over_batch"] == step["ddp"] / step["batch"]
    text = "\n".join(report.parallel_markdown(sec))
    assert "**How to read these tables.**" in text
