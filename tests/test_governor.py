"""The thread governor trains on the cores that other processes leave free."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gradlab import governor
from gradlab.governor import ThreadGovernor
from gradlab.train import BatchStats


class FakeClock:
    """Wall time, machine busy time and own CPU time, advanced by hand."""

    def __init__(self) -> None:
        self.wall = self.busy = self.own = 0.0

    def advance(self, seconds: float, own_cores: float, other_cores: float) -> None:
        self.wall += seconds
        self.own += seconds * own_cores
        self.busy += seconds * (own_cores + other_cores)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    c = FakeClock()
    monkeypatch.setattr(governor, "cpu_busy_seconds", lambda: c.busy)
    monkeypatch.setattr(governor.time, "perf_counter", lambda: c.wall)
    monkeypatch.setattr(governor.time, "process_time", lambda: c.own)
    return c


def run_epoch(gov: ThreadGovernor, clock: FakeClock, other_cores: float, epoch: int = 1) -> None:
    for b in range(10):
        clock.advance(0.01, gov.threads, other_cores)
        gov.on_batch_end(epoch, b, BatchStats())
    gov.on_epoch_end(epoch, {})


def test_first_decision_comes_after_the_probe_time_within_the_first_epoch(
    clock: FakeClock,
) -> None:
    gov = ThreadGovernor(lambda n: None, max_threads=2)
    gov.on_train_begin({})
    clock.advance(0.01, 1, 0.0)
    gov.on_batch_end(1, 0, BatchStats())
    assert gov.choices == []  # 10 ms: too short to tell
    clock.advance(governor.PROBE_SECONDS, 1, 0.0)
    gov.on_batch_end(1, 1, BatchStats())
    assert gov.choices == [2]


def test_starts_on_one_thread_and_takes_both_cores_when_idle(clock: FakeClock) -> None:
    applied: list[int] = []
    gov = ThreadGovernor(applied.append, max_threads=2)
    gov.on_train_begin({})
    assert applied == [1]
    run_epoch(gov, clock, other_cores=0.0)
    assert gov.threads == 2
    assert applied[-1] == 2


def test_stays_on_one_thread_while_another_process_holds_a_core(clock: FakeClock) -> None:
    applied: list[int] = []
    gov = ThreadGovernor(applied.append, max_threads=2)
    gov.on_train_begin({})
    run_epoch(gov, clock, other_cores=1.0)
    assert gov.threads == 1


def test_follows_the_load_from_epoch_to_epoch(clock: FakeClock) -> None:
    gov = ThreadGovernor(lambda n: None, max_threads=2)
    gov.on_train_begin({})
    run_epoch(gov, clock, other_cores=0.0, epoch=1)
    assert gov.threads == 2
    run_epoch(gov, clock, other_cores=0.95, epoch=2)
    assert gov.threads == 1
    run_epoch(gov, clock, other_cores=0.05, epoch=3)
    assert gov.threads == 2


def test_without_proc_stat_it_keeps_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(governor, "cpu_busy_seconds", lambda: None)
    gov = ThreadGovernor(lambda n: None, max_threads=8)
    gov.on_train_begin({})
    gov.on_epoch_end(1, {})
    assert gov.threads == 1


def test_cpu_busy_seconds_counts_all_but_idle_and_iowait(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal (guest columns follow, not counted)
    stat.write_text("cpu  100 20 50 1000 30 5 5 10 7 0\ncpu0 1 2 3 4 5 6 7 8 9 0\n")
    ticks = os.sysconf("SC_CLK_TCK")
    assert governor.cpu_busy_seconds(str(stat)) == pytest.approx(190 / ticks, rel=1e-12)


@pytest.mark.parametrize("text", ["", "intr 1 2 3\n", "cpu  a b c d e\n", "cpu 1 2\n"])
def test_cpu_busy_seconds_is_none_for_a_file_it_cannot_read(tmp_path: Path, text: str) -> None:
    stat = tmp_path / "stat"
    stat.write_text(text)
    assert governor.cpu_busy_seconds(str(stat)) is None
    assert governor.cpu_busy_seconds(str(tmp_path / "missing")) is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="no /proc/stat (not Linux)")
def test_cpu_busy_seconds_grows_while_this_process_works() -> None:
    before = governor.cpu_busy_seconds()
    own = time.process_time()
    while time.process_time() - own < 0.05:  # 50 ms of work: five clock ticks
        pass
    after = governor.cpu_busy_seconds()
    assert before is not None
    assert after is not None
    assert after - before >= 0.02


def test_training_threads_set_and_restore_blas_threads() -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    before = blas_threads()
    with governor.training_threads("numpy", 1, on_cpu=True) as gov:
        assert gov is None
        assert set(blas_threads()) == {1}
    assert blas_threads() == before
    with governor.training_threads("numpy", "auto", on_cpu=True) as gov:
        assert isinstance(gov, ThreadGovernor)
    with governor.training_threads("numpy", "auto", on_cpu=False) as gov:
        assert gov is None  # on a GPU nothing changes
