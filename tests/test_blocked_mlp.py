"""The blocked step (numba) of the MLP and of softmax regression: the batch's rows in
blocks, one per core, against the plain reference within float rounding, and how it is
chosen and run."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from float_bounds import U32, assert_step_within_bounds, step_error_bounds
from gradlab import governor
from gradlab.engines import numpy_mlp
from gradlab.engines.numpy_mlp import NumpyMLP, block_count, reference_step
from gradlab.errors import CompiledStepWarning
from gradlab.models import MLPClassifier, SoftmaxRegression
from gradlab.models._init import init_params
from gradlab.optim import compiled
from gradlab.optim.rules import SGD, Adam

needs_numba = pytest.mark.skipif(
    not compiled.available(), reason="numba is not installed (gradlab[fast])"
)


def _problem(
    sizes: tuple[int, ...], m: int, seed: int, uint8: bool
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = init_params(sizes, "kaiming", 0.01, seed)
    for k in range(1, len(sizes)):  # biases away from zero, so that ReLU masks vary
        params[f"b{k}"] = rng.normal(0, 0.1, sizes[k]).astype(np.float32)
    if uint8:
        X = rng.integers(0, 256, (m, sizes[0]), dtype=np.uint8)
    else:
        X = rng.normal(size=(m, sizes[0])).astype(np.float32)
    return params, X, rng.integers(0, sizes[-1], m)


@needs_numba
@settings(max_examples=30, deadline=None)
@given(
    hidden=st.lists(st.integers(1, 12), min_size=0, max_size=3),
    m=st.integers(1, 30),
    d=st.integers(1, 20),
    classes=st.integers(2, 11),
    blocks=st.integers(2, 5),
    seed=st.integers(0, 1000),
    uint8=st.booleans(),
)
def test_blocked_step_equals_the_reference_step_within_float32_rounding(
    hidden: list[int], m: int, d: int, classes: int, blocks: int, seed: int, uint8: bool
) -> None:
    """Every split of the batch (blocks of every size, empty ones included when
    ``blocks > m``), any depth (none: softmax regression's kernel): the sums over the
    batch are only taken in another order, which the bounds of :func:`step_error_bounds`
    allow (any summation order)."""
    sizes = (d, *hidden, classes)
    params, X, y = _problem(sizes, m, seed, uint8)
    net = NumpyMLP(sizes, params, blocks=blocks)
    assert net.blocks == blocks
    loss_sum, correct = net.train_step(net.prepare(X, y), np.arange(m), 0.05)
    assert_step_within_bounds(net, params, X, y, 0.05, loss_sum, correct)


@needs_numba
@pytest.mark.parametrize("sizes", [(20, 9, 7, 4), (20, 4)])
def test_blocked_logits_equal_numpys_forward_pass(sizes: tuple[int, ...]) -> None:
    params, X, _ = _problem(sizes, 45, 3, uint8=True)
    blocked = NumpyMLP(sizes, params, blocks=3)
    plain = NumpyMLP(sizes, params, fused=False)
    z = blocked.logits(X, batch=16)  # blocks of 6, 6, 4 rows; a last batch of 13
    ref = plain.logits(X)
    # each logit is the same sum of the same products; only BLAS's order may differ
    np.testing.assert_allclose(z, ref, rtol=0, atol=50 * U32 * np.abs(ref).max())
    loss_b, correct_b = blocked.evaluate(blocked.prepare(X, np.zeros(45, np.int64)), batch=10)
    loss_p, correct_p = plain.evaluate(plain.prepare(X, np.zeros(45, np.int64)), batch=10)
    assert correct_b == correct_p
    assert loss_b == pytest.approx(loss_p, rel=1e-5)


@needs_numba
@pytest.mark.parametrize("sizes", [(30, 16, 16, 5), (30, 5)])
def test_blocked_step_gives_the_same_bits_on_one_thread_as_on_several(
    sizes: tuple[int, ...],
) -> None:
    """The number of blocks fixes the sums; the threads that run them do not change them,
    so the load of the machine (the governor's choice) cannot change a fit's numbers."""
    params, X, y = _problem(sizes, 64, 7, uint8=True)
    runs = []
    for threads in (1, 2):
        net = NumpyMLP(sizes, params, blocks=2)
        assert net.thread_pool is not None
        net.thread_pool(threads)
        data = net.prepare(X, y)
        order = np.random.default_rng(0).permutation(64)
        for start in range(0, 64, 16):
            net.train_step(data, order[start : start + 16], 0.1)
        runs.append(net.flat.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


@needs_numba
@pytest.mark.parametrize("sizes", [(12, 8, 3), (12, 3)])
@pytest.mark.parametrize("rule", [SGD(lr=0.1, momentum=0.9), Adam(lr=1e-2)])
def test_blocked_step_feeds_the_summed_gradient_to_any_update_rule(
    rule: Any, sizes: tuple[int, ...]
) -> None:
    """With a rule that keeps state, the blocks' sum lands in ``grad_flat`` and the rule
    steps on it (for softmax regression, on weights stored transposed): the blocked
    engine stays beside the NumPy passes over several steps."""
    params, X, y = _problem(sizes, 40, 1, uint8=False)
    nets = [NumpyMLP(sizes, params, rule=rule, blocks=b, fused=False) for b in (0, 2)]
    assert [n.blocks for n in nets] == [1, 2]
    for net in nets:
        data = net.prepare(X, y)
        for start in range(0, 40, 10):
            net.train_step(data, np.arange(start, start + 10), 0.1)
    for name, a in nets[0].state().items():
        b = nets[1].state()[name]
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-4 * np.abs(a).max(), err_msg=name)
    # a state read under the wrong name or from one block alone would be far off
    for key, arr in nets[0].optimizer_state().arrays.items():
        other = nets[1].optimizer_state().arrays[key]
        np.testing.assert_allclose(other, arr, rtol=0, atol=1e-4 * (np.abs(arr).max() + 1e-3))


@needs_numba
@pytest.mark.parametrize("sizes", [(6, 5, 3), (6, 3)])
def test_blocked_step_reads_negative_rows_as_numpy_does(sizes: tuple[int, ...]) -> None:
    params, X, y = _problem(sizes, 10, 2, uint8=True)
    nets = [NumpyMLP(sizes, params, blocks=2) for _ in range(2)]
    got = [
        nets[0].train_step(nets[0].prepare(X, y), np.array([-1, -2, 0, 3]), 0.1),
        nets[1].train_step(nets[1].prepare(X, y), np.array([9, 8, 0, 3]), 0.1),
    ]
    assert got[0] == got[1]
    np.testing.assert_array_equal(nets[0].flat, nets[1].flat)


@needs_numba
@pytest.mark.parametrize("sizes", [(4, 5, 3), (4, 3)])
@pytest.mark.parametrize("bad", [3, -1, 10**8])
@pytest.mark.parametrize("row", [2, 4])  # in the first block of rows, in the last
def test_blocked_step_refuses_a_label_that_is_not_a_class(
    bad: int, row: int, sizes: tuple[int, ...]
) -> None:
    params = init_params(sizes, "kaiming", 0.01, 0)
    net = NumpyMLP(sizes, params, blocks=2)
    y = np.array([0, 1, 0, 0, 1])
    y[row] = bad
    with pytest.raises(IndexError, match="a label is not a class number"):
        net.step(np.ones((5, 4), np.float32), y, 0.1)
    for name, value in net.state().items():  # no step was taken
        np.testing.assert_array_equal(value, params[name])


@needs_numba
@pytest.mark.parametrize(
    ("sizes", "what"), [((9, 6, 4), "the MLP"), ((9, 4), "softmax regression")]
)
def test_a_blocked_kernel_that_cannot_compile_warns_and_the_numpy_passes_take_over(
    sizes: tuple[int, ...], what: str
) -> None:
    params, X, y = _problem(sizes, 10, 0, uint8=False)
    net = NumpyMLP(sizes, params, blocks=2)

    def broken(*args: Any) -> None:
        raise TypeError("no matching definition")  # what a numba typing error looks like

    net._blocked = broken
    with pytest.warns(CompiledStepWarning, match=rf"{what}'s compiled step cannot be used"):
        net.train_step(net.prepare(X, y), np.arange(10), 0.05)
    assert net._blocked is None
    assert net.blocks == 1
    _, new, _ = reference_step(
        {k: v.astype(np.float64) for k, v in params.items()}, None, X.astype(np.float64), y, 0.05
    )
    bounds, _, _ = step_error_bounds(params, X, y, lr=0.05)
    for name, ref in new.items():  # the step was taken once, by NumPy's passes
        tol = bounds[name] + U32 * (np.abs(ref - params[name]) + np.abs(ref))
        assert np.all(np.abs(net.state()[name] - ref) <= tol * 1.001), name


@needs_numba
def test_softmax_regression_in_blocks_replaces_its_one_thread_kernel() -> None:
    params = init_params((4, 3), "kaiming", 0.01, 0)
    net = NumpyMLP((4, 3), params, blocks=2)
    assert net.blocks == 2
    assert net._fused is None
    assert net._transposed == {"W1"}  # each class's weights contiguous, as the kernel reads
    np.testing.assert_array_equal(net.state()["W1"], params["W1"])


def test_blocks_are_off_without_numba_or_on_one_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    mlp = init_params((4, 5, 3), "kaiming", 0.01, 0)
    assert NumpyMLP((4, 5, 3), mlp, blocks=2, compiled=False).blocks == 1
    assert NumpyMLP((4, 3), init_params((4, 3), "kaiming", 0.01, 0), compiled=False).blocks == 1
    assert NumpyMLP((4, 5, 3), mlp, blocks=1).thread_pool is None
    monkeypatch.setenv(compiled.ENV, "0")
    assert NumpyMLP((4, 5, 3), mlp, blocks=2).blocks == 1
    assert block_count(1) == 0
    assert block_count(2) == 2
    assert block_count(64) == numpy_mlp.MAX_BLOCKS


@needs_numba
def test_training_threads_with_an_engine_pool_run_blas_on_one_thread() -> None:
    """Each block's products are one thread's work: BLAS at 1 whatever cpu_threads says,
    the engine's pool at the count asked for, and BLAS's own setting back afterwards."""
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    calls: list[int] = []
    before = blas_threads()
    with governor.training_threads("numpy", 2, on_cpu=True, pool=calls.append) as gov:
        assert isinstance(gov, governor.KeepThreads)  # gives the pool 2 again every epoch
        assert set(blas_threads()) == {1}
        assert calls == [2]
    assert blas_threads() == before
    calls.clear()
    with governor.training_threads("numpy", "auto", on_cpu=True, pool=calls.append) as gov:
        assert isinstance(gov, governor.ThreadGovernor)
        assert calls == [1]  # the governor starts on one and moves the pool, not BLAS
        gov.set_threads(2)
        assert calls == [1, 2]
        assert set(blas_threads()) == {1}
    with governor.training_threads("numpy", None, on_cpu=True, pool=calls.append) as gov:
        assert gov is None
        assert set(blas_threads()) == {1}


def _small_job_and_the_networks_it_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[np.ndarray, np.ndarray, list[NumpyMLP]]:
    """64 images of 8 pixels in 3 classes, and a list that receives every NumpyMLP the
    estimators make from now on."""
    rng = np.random.default_rng(0)
    made: list[NumpyMLP] = []
    real = numpy_mlp.NumpyMLP

    def spy(*args: Any, **kw: Any) -> NumpyMLP:
        made.append(real(*args, **kw))
        return made[-1]

    monkeypatch.setattr(numpy_mlp, "NumpyMLP", spy)
    return rng.integers(0, 256, (64, 8), dtype=np.uint8), rng.integers(0, 3, 64), made


@needs_numba
@pytest.mark.skipif(block_count() < 2, reason="one CPU: the blocked step is not used")
def test_a_large_mlp_job_trains_with_the_blocked_step_and_a_small_one_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y, made = _small_job_and_the_networks_it_makes(monkeypatch)
    MLPClassifier(hidden=(5,), epochs=2, engine="numpy").fit(X, y)
    assert made[-1].blocks == 1  # 64 x 8 x 2 values: numba's start-up would not pay
    monkeypatch.setattr(compiled, "MLP_KERNEL_MIN_WORK", 500.0)
    est = MLPClassifier(hidden=(5,), epochs=2, engine="numpy").fit(X, y)
    assert made[-1].blocks == block_count()
    assert np.isfinite(est.history_["train_loss"]).all()
    # one thread asked for: the blocks would run one after the other, slower than NumPy
    MLPClassifier(hidden=(5,), epochs=2, engine="numpy", cpu_threads=1).fit(X, y)
    assert made[-1].blocks == 1


@needs_numba
@pytest.mark.skipif(block_count() < 2, reason="one CPU: the blocked step is not used")
def test_a_large_softmax_job_trains_in_blocks_and_on_one_thread_with_the_one_thread_kernel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y, made = _small_job_and_the_networks_it_makes(monkeypatch)
    SoftmaxRegression(epochs=2, engine="numpy").fit(X, y)
    assert made[-1].blocks == 1
    assert made[-1]._fused is None  # 64 x 8 x 2 values: NumPy's passes
    monkeypatch.setattr(compiled, "KERNEL_MIN_WORK", 500.0)
    est = SoftmaxRegression(epochs=2, engine="numpy").fit(X, y)
    assert made[-1].blocks == block_count()
    assert np.isfinite(est.history_["train_loss"]).all()
    SoftmaxRegression(epochs=2, engine="numpy", cpu_threads=1).fit(X, y)
    assert made[-1].blocks == 1
    assert made[-1]._fused is not None


@needs_numba
def test_training_threads_set_numbas_thread_count_back_afterwards() -> None:
    import numba

    net = NumpyMLP((4, 5, 3), init_params((4, 5, 3), "kaiming", 0.01, 0), blocks=2)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with governor.training_threads("numpy", 2, on_cpu=True, pool=net.thread_pool):
            assert numba.get_num_threads() == min(2, numba.config.NUMBA_NUM_THREADS)
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(before)


def _tbb_installed() -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution("tbb")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@needs_numba
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="BLAS on two threads needs two CPUs")
def test_after_the_blocks_are_dropped_the_governors_next_move_gives_blas_the_cores() -> None:
    """The governor holds BLAS on one thread while the blocks run; a fit whose blocked
    kernel is dropped (it failed to compile, or a fork) trains on NumPy's passes, which
    need BLAS's threads."""
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    def blas_threads() -> set[int]:
        return {int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"}

    sizes = (6, 5, 3)
    net = NumpyMLP(sizes, init_params(sizes, "kaiming", 0.01, 0), blocks=2)
    with governor.training_threads("numpy", "auto", True, pool=net.thread_pool) as gov:
        assert gov is not None
        assert blas_threads() == {1}
        with pytest.warns(CompiledStepWarning, match="the MLP's compiled step cannot be used"):
            net._drop_blocked("a test")
        gov.set_threads(2)  # what the governor does after an epoch on a free machine
        assert blas_threads() == {2}
    assert net.thread_pool is None
    assert net.blocks == 1


@needs_numba
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="BLAS on two threads needs two CPUs")
def test_after_the_blocks_are_dropped_a_fixed_count_goes_to_blas_at_the_next_epoch() -> None:
    """With ``cpu_threads=2`` nothing moved the pool again once the fit had started: a fit
    whose blocks were dropped ran NumPy's passes on one BLAS thread to its end."""
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    from gradlab.train import BatchStats

    def blas_threads() -> set[int]:
        return {int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"}

    before = blas_threads()
    sizes = (6, 5, 3)
    net = NumpyMLP(sizes, init_params(sizes, "kaiming", 0.01, 0), blocks=2)
    with governor.training_threads("numpy", 2, True, pool=net.thread_pool) as keeper:
        assert isinstance(keeper, governor.KeepThreads)
        assert blas_threads() == {1}
        keeper.on_batch_end(1, 0, BatchStats())  # the blocks run: BLAS stays on one thread
        assert blas_threads() == {1}
        with pytest.warns(CompiledStepWarning, match="the MLP's compiled step cannot be used"):
            net._drop_blocked("a test")
        keeper.on_batch_end(1, 1, BatchStats())  # not the first batch of an epoch
        assert blas_threads() == {1}
        keeper.on_batch_end(2, 0, BatchStats())
        assert blas_threads() == {2}
    assert blas_threads() == before


def _run_script(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``script`` run by a fresh interpreter with ``env``; it must exit 0."""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


FORK_AFTER_A_BLOCKED_STEP = """
import os
import numba
import numpy as np
from gradlab.engines.numpy_mlp import NumpyMLP
from gradlab.models._init import init_params

def step():
    sizes = (6, 5, 3)
    net = NumpyMLP(sizes, init_params(sizes, "kaiming", 0.01, 0), blocks=2)
    net.thread_pool(2)
    net.train_step((np.ones((8, 6), np.float32), np.arange(8) % 3), np.arange(8), 0.1)

step()
pid = os.fork()
if pid == 0:
    step()
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(numba.threading_layer(), os.waitstatus_to_exitcode(status))
"""


@needs_numba
@pytest.mark.skipif(sys.platform != "linux", reason="pip's oneTBB is loaded on Linux")
@pytest.mark.skipif(not _tbb_installed(), reason="oneTBB is not installed (gradlab[fast])")
def test_a_process_forked_after_a_blocked_step_takes_blocked_steps_itself() -> None:
    """Under GNU OpenMP numba terminated such a child ("fork() called from a process
    already using GNU OpenMP, this is unsafe"); gradlab loads pip's oneTBB so that numba
    runs the blocks on its fork-safe tbb layer."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    proc = _run_script(FORK_AFTER_A_BLOCKED_STEP, env)
    assert proc.stdout.split() == ["tbb", "0"], proc.stdout + proc.stderr[-2000:]


FORK_UNDER_OPENMP = """
import os, warnings
import numba
import numpy as np
from gradlab.engines.numpy_mlp import NumpyMLP
from gradlab.models._init import init_params

sizes = (6, 5, 3)
data = (np.ones((8, 6), np.float32), np.arange(8) % 3)

def step(net):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        net = net or NumpyMLP(sizes, init_params(sizes, "kaiming", 0.01, 0), blocks=2)
        if net.thread_pool is not None:
            net.thread_pool(2)
        net.train_step(data, np.arange(8), 0.1)
        net.evaluate(data)
    return net, [str(w.message) for w in seen]

parents, _ = step(None)
pid = os.fork()
if pid == 0:  # a network made in the child, then the parent's, used in the child
    for net in (None, parents):
        net, seen = step(net)
        print(net.blocks, net.thread_pool is None, len(seen), *seen, sep="\\n", flush=True)
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(numba.threading_layer(), os.waitstatus_to_exitcode(status))
"""


def _gnu_openmp_loads() -> bool:
    try:
        from numba.np.ufunc import omppool  # noqa: F401
    except ImportError:
        return False
    return True


@needs_numba
@pytest.mark.skipif(sys.platform != "linux", reason="GNU OpenMP's fork check is Linux's")
def test_a_child_forked_from_a_process_on_gnu_openmp_falls_back_to_numpy_with_a_warning() -> None:
    """Without oneTBB numba runs the blocks on GNU OpenMP, and terminates a forked child at
    its first parallel kernel; the child must take NumPy's passes instead, and say why."""
    if not _gnu_openmp_loads():
        pytest.skip("numba's omp layer cannot load here")
    proc = _run_script(FORK_UNDER_OPENMP, {**os.environ, "NUMBA_THREADING_LAYER": "omp"})
    lines = proc.stdout.splitlines()
    assert lines[-1] == "omp 0", proc.stdout + proc.stderr[-2000:]
    for child in (lines[:4], lines[4:8]):  # a network made in the child, the parent's
        assert child[:3] == ["1", "True", "1"], proc.stdout
        assert "the MLP's compiled step cannot be used (this process was forked from one " \
            "whose numba threads ran on GNU OpenMP" in child[3]  # fmt: skip
        assert "oneTBB, which the fast extra installs, can" in child[3]


@needs_numba
def test_oneTBB_is_left_alone_when_the_user_chose_numbas_threading_layer_or_it_is_absent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.metadata

    from gradlab.engines import _numba_blocks

    monkeypatch.setenv("NUMBA_THREADING_LAYER", "omp")
    assert _numba_blocks.load_tbb() is None
    monkeypatch.delenv("NUMBA_THREADING_LAYER")

    def absent(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "files", absent)
    assert _numba_blocks.load_tbb() is None
