"""Data parallelism without starting workers: the split of a batch, the environment, the
launcher's checks and every message a user can get before a worker starts.

The jobs themselves (equivalence, resume, faults, two nodes) are in
``tests/test_distributed_jobs.py``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradlab import process
from gradlab.cli import main
from gradlab.distributed import SOLO, World, env_world, join_timeout, thread_share
from gradlab.distributed.launch import Launch, listen, parse_endpoint, port_holder
from gradlab.errors import ExitStatus, UsageError
from gradlab.models._network import PlainClassifier, resolve_engine

JOB_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(autouse=True)
def _no_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests run outside any job, whatever the environment of the test run."""
    for name in JOB_VARS:
        monkeypatch.delenv(name, raising=False)


@given(n=st.integers(0, 700), size=st.integers(1, 9))
def test_the_blocks_of_a_batch_cover_it_once_in_order_and_differ_by_at_most_one_row(
    n: int, size: int
) -> None:
    rows = np.arange(n)
    blocks = [rows[World(r, size).block(n)] for r in range(size)]
    assert np.array_equal(np.concatenate(blocks), rows)
    lengths = [b.size for b in blocks]
    assert max(lengths) - min(lengths) <= 1


def test_alone_the_batch_is_one_block_and_a_sum_is_the_numbers_themselves() -> None:
    assert SOLO.block(37) == slice(0, 37)
    assert SOLO.leader
    np.testing.assert_array_equal(SOLO.all_sum([1.5, 2, 3]), [1.5, 2.0, 3.0])


def test_the_environment_of_a_torchrun_worker_is_read() -> None:
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    world = env_world(env)
    assert world is not None
    assert (world.rank, world.size, world.local_rank, world.local_size) == (3, 4, 1, 2)
    assert not world.leader
    assert env_world({}) is None
    by_hand = env_world({"RANK": "1", "WORLD_SIZE": "2"})  # no LOCAL_*: all on this machine
    assert by_hand is not None
    assert (by_hand.local_rank, by_hand.local_size) == (1, 2)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RANK": "1"}, "the environment sets RANK but not WORLD_SIZE."),
        ({"WORLD_SIZE": "2"}, "the environment sets WORLD_SIZE but not RANK."),
        (
            {"RANK": "x", "WORLD_SIZE": "2"},
            "the environment variable RANK='x' is not a whole number.",
        ),
        (
            {"RANK": "2", "WORLD_SIZE": "2"},
            "the environment sets RANK=2 and WORLD_SIZE=2; a worker's rank must be "
            "0 .. WORLD_SIZE - 1.",
        ),
        (
            {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "2", "LOCAL_WORLD_SIZE": "2"},
            "the environment sets LOCAL_RANK=2 and LOCAL_WORLD_SIZE=2 (WORLD_SIZE=4); a local "
            "rank must be 0 .. LOCAL_WORLD_SIZE - 1, and LOCAL_WORLD_SIZE at most WORLD_SIZE.",
        ),
    ],
)
def test_a_broken_job_environment_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        env_world(env)
    assert info.value.message == message
    assert "torchrun" in str(info.value.hint)
    assert "to train in one process." in str(info.value.hint)


def test_the_join_timeout_comes_from_the_environment() -> None:
    assert join_timeout({}) == 30.0
    assert join_timeout({"GRADLAB_JOIN_TIMEOUT": "2.5"}) == 2.5
    with pytest.raises(UsageError, match=r"GRADLAB_JOIN_TIMEOUT='-1' is not a number of seconds"):
        join_timeout({"GRADLAB_JOIN_TIMEOUT": "-1"})
    assert join_timeout({"GRADLAB_JOIN_TIMEOUT": "604800"}) == 604800
    for endless in ("inf", "604801", "1e15"):  # timedelta(seconds=inf) raises OverflowError
        with pytest.raises(UsageError, match=r"> 0 and at most 604,800 \(a week\)\.$"):
            join_timeout({"GRADLAB_JOIN_TIMEOUT": endless})


def test_each_worker_takes_its_share_of_the_cores() -> None:
    assert thread_share(World(0, 2, 0, 2), cpus=2) == 1
    assert thread_share(World(0, 4, 0, 2), cpus=16) == 8
    assert thread_share(World(0, 8, 0, 8), cpus=2) == 1  # never fewer than one
    assert thread_share(SOLO, cpus=2) == 2


def test_an_endpoint_is_host_and_port() -> None:
    assert parse_endpoint("127.0.0.1:29500") == ("127.0.0.1", 29500)
    assert parse_endpoint("[::1]:29500") == ("::1", 29500)
    assert parse_endpoint("node0.example:0") == ("node0.example", 0)


@pytest.mark.parametrize(
    ("launch", "message"),
    [
        (Launch(endpoint="127.0.0.1"), "--rdzv-endpoint '127.0.0.1' is not HOST:PORT."),
        (Launch(endpoint="h:x"), "--rdzv-endpoint 'h:x': the port 'x' is not a number."),
        (Launch(endpoint="h:70000"), "--rdzv-endpoint 'h:70000': a port is 0 .. 65535; got 70000."),
        (Launch(nproc=0), "--nproc must be at least 1; got 0."),
        (Launch(nnodes=0), "--nnodes must be at least 1; got 0."),
        (
            Launch(nnodes=2),
            "--nnodes 2 needs the rendezvous address: --rdzv-endpoint HOST:PORT, an address "
            "of node rank 0 and a free port there, the same on every node.",
        ),
        (
            Launch(nnodes=2, node_rank=2, endpoint="h:1"),
            "--node-rank must be 0 .. 1 with --nnodes 2; got 2.",
        ),
        (
            Launch(nnodes=2, endpoint="h:0"),
            "--rdzv-endpoint h:0: with several nodes the port must be given (every node must "
            "know it in advance).",
        ),
        (Launch(timeout=0), "--rdzv-timeout must be a number of seconds >= 1; got 0."),
        (Launch(timeout=1e-6), "--rdzv-timeout must be a number of seconds >= 1; got 1e-06."),
        (  # once an OverflowError from timedelta(seconds=1e15), in the rendezvous
            Launch(nproc=2, timeout=1e15),
            "--rdzv-timeout must be at most 604,800 seconds (a week); got 1e+15.",
        ),
    ],
)
def test_a_bad_launch_is_refused_before_anything_starts(launch: Launch, message: str) -> None:
    with pytest.raises(UsageError) as info:
        launch.check()
    assert info.value.message == message


def test_one_machine_meets_on_the_loopback_address_and_several_wait_longer() -> None:
    assert Launch(nproc=2).check() == ("127.0.0.1", 0)
    assert Launch(nproc=2).wait == 30.0
    assert Launch(nnodes=2, endpoint="10.0.0.1:29500").wait == 300.0
    assert Launch(nproc=2, timeout=4).wait == 4


def _held_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_rendezvous_port_in_use_is_named_with_the_program_that_holds_it() -> None:
    with _held_port() as held:
        port = held.getsockname()[1]
        assert port_holder(port) is not None
        assert f"process {os.getpid()} (" in str(port_holder(port))
        with pytest.raises(UsageError) as info:
            listen("127.0.0.1", port)
    assert info.value.message.startswith(
        f"the rendezvous port 127.0.0.1:{port} is already in use by process {os.getpid()} ("
    )
    assert (
        info.value.hint == "Choose another port (--rdzv-endpoint HOST:PORT), or stop that program."
    )


def test_the_rendezvous_listens_only_on_the_address_given() -> None:
    with listen("127.0.0.1", 0) as sock:
        assert sock.getsockname()[0] == "127.0.0.1"


def test_an_address_of_another_machine_or_an_unknown_host_is_refused() -> None:
    with pytest.raises(UsageError) as info:
        listen("192.0.2.1", 29500)  # TEST-NET-1: never an address of this machine
    assert info.value.message == (
        "cannot listen on 192.0.2.1:29500: 192.0.2.1 is not an address of this machine."
    )
    with pytest.raises(UsageError, match=r"cannot resolve 'no-such-host\.invalid'"):
        listen("no-such-host.invalid", 29500)


def test_several_workers_and_float64_need_the_torch_engine() -> None:
    assert resolve_engine("auto", "cpu", workers=2) == "torch"
    assert resolve_engine("auto", "cpu", dtype="float64") == "torch"
    assert resolve_engine("auto", "cpu") == "numpy"
    with pytest.raises(UsageError) as info:
        resolve_engine("numpy", "auto", workers=2)
    assert info.value.message == (
        "the numpy engine has no distributed version: training with 2 workers (n_procs, "
        "--nproc or --nnodes, or a torchrun job) needs the torch engine, where "
        "torch.distributed averages the gradients."
    )
    assert "leave the engine at 'auto', which picks torch for several workers" in str(
        info.value.hint
    )
    with pytest.raises(UsageError) as info:
        resolve_engine("numpy", "auto", dtype="float64")
    assert info.value.message == (
        "the numpy engine trains in float32 only; dtype='float64' (--dtype float64) needs the "
        "torch engine."
    )


def _blobs(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 5)).astype(np.float32), rng.integers(0, 3, n)


def test_the_estimator_refuses_the_numpy_engine_for_several_workers_before_starting_any() -> None:
    with pytest.raises(UsageError, match="the numpy engine has no distributed version"):
        PlainClassifier("mlp", hidden=(4,), n_procs=2, engine="numpy").fit(*_blobs())


def test_n_procs_inside_a_job_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UsageError) as info:
        PlainClassifier("mlp", hidden=(4,), n_procs=2).fit(*_blobs())
    assert info.value.message == (
        "MLPClassifier: n_procs=2 asks to start workers, but this process already is worker "
        "rank 0 of a job of 2 (RANK and WORLD_SIZE are set)."
    )
    assert 'if __name__ == "__main__":' in str(info.value.hint)


def test_a_worker_without_master_address_is_told_how_to_start_the_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("torch")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UsageError) as info:
        PlainClassifier("mlp", hidden=(4,), epochs=1).fit(*_blobs())
    assert info.value.message == (
        "this process is worker rank 1 of 2 (RANK and WORLD_SIZE are set), but MASTER_ADDR "
        "and MASTER_PORT are not."
    )


def test_the_dtype_is_checked_from_the_table() -> None:
    with pytest.raises(UsageError) as info:
        PlainClassifier("mlp", dtype="float16").fit(*_blobs())
    assert info.value.message == (
        "MLPClassifier: dtype must be one of 'float32', 'float64'; got 'float16'."
    )
    with pytest.raises(UsageError) as info:
        PlainClassifier("softmax", n_procs=0).fit(*_blobs())
    assert info.value.message == "SoftmaxRegression: n_procs must be an integer >= 1; got 0."


def test_float64_trains_and_saves_float64_weights(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from gradlab import checkpoint

    path = tmp_path / "m.safetensors"
    model = PlainClassifier("mlp", hidden=(4,), epochs=2, dtype="float64", cpu_threads=1)
    model.fit(*_blobs(), checkpoint=path)
    assert model.engine_ == "torch"
    assert model.world_size_ == 1
    assert all(w.dtype == np.float64 for w in model.params_.values())
    saved = checkpoint.read(path)
    assert saved.hyperparameters["dtype"] == "float64"
    assert all(w.dtype == np.float64 for w in saved.weights.values())


# ------------------------------------------------------------------ the command line


def _cli(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_cli_refuses_the_numpy_engine_with_several_workers_before_starting_any(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(capsys, "train", "mlp", "--nproc", "2", "--engine", "numpy",
                     "--out", tmp_path / "o", "--no-plots")  # fmt: skip
    assert code == ExitStatus.USAGE
    assert (
        "gradlab train: error: the numpy engine has no distributed version: training with " in err
    )
    assert "Use engine='torch' (--engine torch)" in err


def test_cli_refuses_rendezvous_options_for_one_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(capsys, "train", "softmax", "--rdzv-endpoint", "127.0.0.1:29500",
                     "--rdzv-timeout", "5", "--out", tmp_path / "o")  # fmt: skip
    assert code == ExitStatus.USAGE
    assert (
        "gradlab train: error: --rdzv-endpoint, --rdzv-timeout are for a job of several "
        "workers; this one trains in one process.\nAdd --nproc N (workers on this machine) or "
        "--nnodes N (machines)."
    ) in err


def test_cli_under_torchrun_refuses_to_start_workers_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, err = _cli(capsys, "train", "mlp", "--nproc", "2", "--out", tmp_path / "o")
    assert code == ExitStatus.USAGE
    assert (
        "gradlab train: error: --nproc and --nnodes start workers, but this process already is "
        "worker rank 1 of 2 (RANK and WORLD_SIZE are set, as torchrun sets them)."
    ) in err
    assert not (tmp_path / "o").exists()  # rank 1 never touches --out


def test_cli_names_the_rendezvous_port_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    with _held_port() as held:
        port = held.getsockname()[1]
        code, err = _cli(capsys, "train", "softmax", "--nproc", "2", "--rdzv-endpoint",
                         f"127.0.0.1:{port}", "--out", tmp_path / "o", "--no-plots")  # fmt: skip
    assert code == ExitStatus.USAGE
    assert (
        f"gradlab train: error: the rendezvous port 127.0.0.1:{port} is already in use by "
        f"process {os.getpid()} ("
    ) in err


def test_cli_needs_an_endpoint_for_several_nodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(capsys, "train", "mlp", "--nnodes", "2", "--out", tmp_path / "o")
    assert code == ExitStatus.USAGE
    assert "gradlab train: error: --nnodes 2 needs the rendezvous address" in err


def test_cli_refuses_a_rendezvous_timeout_beyond_a_week_before_starting_any(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once a traceback from the rendezvous: timedelta(seconds=1e15) overflows."""
    code, err = _cli(capsys, "train", "softmax", "--nproc", "2", "--rdzv-timeout", "1e15",
                     "--out", tmp_path / "o")  # fmt: skip
    assert code == ExitStatus.USAGE
    assert (
        "gradlab train: error: --rdzv-timeout must be at most 604,800 seconds (a week); got "
        "1e+15.\nThe default is 30 on one machine"
    ) in err
    assert not (tmp_path / "o").exists()


def test_the_equivalence_picture_draws_two_runs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from gradlab.viz.parallel import equivalence, largest_difference

    X, y = _blobs(200)
    one = PlainClassifier("softmax", epochs=3, batch_size=32, cpu_threads=1).fit(X, y)
    two = PlainClassifier("softmax", epochs=3, batch_size=32, cpu_threads=1).fit(X, y)
    two.world_size_ = 2  # stands in for a data-parallel run: identical here
    assert largest_difference(one.params_, two.params_) == 0.0
    fig = equivalence(one, two)
    assert fig._suptitle is not None
    assert fig._suptitle.get_text() == (
        "1 process and 2 workers, same global batch: largest weight difference 0.0e+00"
    )
    assert fig.to_png()[:8] == b"\x89PNG\r\n\x1a\n"
    diff_ax = fig.axes[1]
    assert diff_ax.get_ylabel() == "|1 process - 2 workers| / |1 process|"
    # exact zeros are hollow squares on the "= 0" line, joined by no line to anything
    joined = [line for line in diff_ax.get_lines() if line.get_marker() == "o"]
    assert joined
    assert all(np.ma.getmaskarray(line.get_ydata()).all() for line in joined)


def test_callbacks_that_cannot_go_to_the_workers_are_named() -> None:
    pytest.importorskip("torch")
    from gradlab.train import Callback

    class Local(Callback):  # a class defined in a function does not pickle
        pass

    with pytest.raises(UsageError) as info:
        PlainClassifier("mlp", hidden=(4,), n_procs=2).fit(*_blobs(), callbacks=[Local()])
    assert info.value.message.startswith(
        "MLPClassifier: with n_procs=2 the callbacks run in worker 0, so they must pickle; "
        "Local does not ("
    )


def test_cli_resume_of_a_model_saved_by_n_procs_trains_in_this_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line says how many workers train, never the checkpoint."""
    from gradlab import checkpoint

    out = tmp_path / "o"
    common = ("--out", out, "--no-plots", "--quiet", "--json")
    assert main(["train", "softmax", "--epochs", "1", *map(str, common)]) == 0
    path = out / "model.safetensors"
    saved = checkpoint.read(path)
    saved.hyperparameters["n_procs"] = 2  # as fit(n_procs=2) saves it
    checkpoint.write(path, saved)
    capsys.readouterr()
    assert main(["train", "softmax", "--epochs", "2", "--resume", *map(str, common)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["world_size"], summary["epochs"]) == (1, 2)


def _store_clients_left(within: float = 30.0) -> list[Any]:
    """The store clients' threads (:func:`gradlab.distributed.launch.store_client`) still
    running after ``within`` seconds: they end with torch's own error, logged by torch
    while this test still captures the output."""
    import threading

    clients = [t for t in threading.enumerate() if t.name == "gradlab-store-client"]
    for thread in clients:
        thread.join(within)
    return [t for t in clients if t.is_alive()]


def test_a_bad_master_port_and_an_unreachable_store_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("torch")
    from gradlab.errors import WorkerError

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "x")
    with pytest.raises(UsageError) as info:
        PlainClassifier("mlp", hidden=(4,), epochs=1).fit(*_blobs())
    assert info.value.message == "MASTER_PORT='x' is not a port number."
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MASTER_PORT", str(port))
    monkeypatch.setenv("GRADLAB_JOIN_TIMEOUT", "1")
    monkeypatch.setattr(process, "_NATIVE_THREAD_LEFT", False)
    with pytest.raises(WorkerError) as failed:
        PlainClassifier("mlp", hidden=(4,), epochs=1).fit(*_blobs())
    # torch's client thread outlives the wait: the process must end without teardown
    assert process.native_thread_left()
    assert failed.value.message.startswith(
        f"worker rank 1 of 2 could not reach the job's store at 127.0.0.1:{port} within 1 s: "
        "nothing accepts connections there"
    )
    assert not _store_clients_left()  # torch's own retries end, later than the join's wait
    assert "Worker rank 0 hosts the store at MASTER_ADDR:MASTER_PORT" in str(failed.value.hint)


def test_a_program_that_accepts_at_the_store_address_but_never_answers_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """torch's TCPStore client waits for good for the answer to its first ping: the join
    gives up after its timeout and says what holds the address."""
    pytest.importorskip("torch")
    import threading

    with _held_port() as held:  # listens, never accepts or answers
        port = held.getsockname()[1]
        job = {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"}
        for name, value in {**job, "MASTER_PORT": str(port), "GRADLAB_JOIN_TIMEOUT": "1"}.items():
            monkeypatch.setenv(name, value)
        # should the join wait for good, closing the socket resets its connection
        bound = threading.Timer(60, held.close)
        bound.start()
        try:
            with pytest.raises(UsageError) as info:
                PlainClassifier("mlp", hidden=(4,), epochs=1).fit(*_blobs())
        finally:
            bound.cancel()
    # the client's thread, left waiting, ends once the program closes the connection
    assert not _store_clients_left(), "the store client's thread outlived the listener"
    message = info.value.message
    assert message.startswith(f"worker rank 1 of 2 cannot join the job: process {os.getpid()} ("), (
        message
    )
    assert message.endswith(
        f") at 127.0.0.1:{port} accepted the connection but did not answer as PyTorch's "
        "store (TCPStore) within 1 s."
    ), message
    assert "if another program holds that port, choose another one" in str(info.value.hint)


def _job_store(*views: tuple[str | None, dict[str, str]]) -> Any:
    """A store as the workers of a job leave it before they compare their settings: each
    one's node and settings, and the mark that it has read the others'."""
    from torch.distributed import HashStore

    store = HashStore()
    for rank, (node, settings) in enumerate(views):
        store.set(f"settings/{rank}", json.dumps({"node": node, "settings": settings}))
        store.set(f"told/{rank}", "1")
    return store


def test_the_settings_that_differ_are_named_with_their_workers_and_nodes() -> None:
    pytest.importorskip("torch")
    from gradlab.engines.distributed import _agree

    same = {"model": "model 'mlp' (MLPClassifier)", "epochs": "epochs=2", "lr": "lr=0.1"}
    _agree(_job_store(("0", same), ("0", same), ("1", same)), World(1, 3), 5, "MLPClassifier")
    fewer = {**same, "epochs": "epochs=1"}
    store = _job_store(("0", same), ("0", same), ("1", fewer))
    with pytest.raises(UsageError) as info:
        _agree(store, World(2, 3), 5, "MLPClassifier")
    assert info.value.message == (
        "MLPClassifier: the workers of this job were started with different settings: "
        "epochs=2 on worker ranks 0, 1 (node 0), epochs=1 on worker rank 2 (node 1)."
    )
    assert "only --node-rank, --nproc and the folders" in str(info.value.hint)
    # on one machine (no node ranks) the workers alone; at most three settings named
    many = {"model": same["model"], **{f"p{i}": f"p{i}={i}" for i in range(5)}}
    other = {"model": same["model"], **{f"p{i}": f"p{i}={i + 1}" for i in range(5)}}
    with pytest.raises(UsageError) as info:
        _agree(_job_store((None, many), (None, other)), World(0, 2), 5, None)
    assert info.value.message == (
        "the workers of this job were started with different settings: p0=0 on worker rank "
        "0, p0=1 on worker rank 1; p1=1 on worker rank 0, p1=2 on worker rank 1; p2=2 on "
        "worker rank 0, p2=3 on worker rank 1; and 2 more settings differ."
    )
    # the first setting, the estimator, is named alone: the others follow from it
    softmax = {"model": "model 'softmax' (SoftmaxRegression)", "epochs": "epochs=2"}
    with pytest.raises(UsageError) as info:
        _agree(_job_store(("0", same), ("1", softmax)), World(0, 2), 5, "MLPClassifier")
    assert info.value.message == (
        "MLPClassifier: the workers of this job were started with different settings: "
        "model 'mlp' (MLPClassifier) on worker rank 0 (node 0), model 'softmax' "
        "(SoftmaxRegression) on worker rank 1 (node 1)."
    )
    # a setting only some workers have
    with pytest.raises(UsageError) as info:
        _agree(_job_store((None, {"a": "a=1"}), (None, {})), World(0, 2), 5, None)
    assert info.value.message.endswith(": a=1 on worker rank 0, no a on worker rank 1.")


def test_a_checkpoint_whose_tensors_are_not_in_the_models_dtype_is_refused(
    tmp_path: Path,
) -> None:
    pytest.importorskip("torch")
    from gradlab import checkpoint
    from gradlab.errors import DataError

    path = tmp_path / "m.safetensors"
    PlainClassifier("softmax", epochs=1, dtype="float64").fit(*_blobs(), checkpoint=path)
    saved = checkpoint.read(path)
    saved.weights = {k: v.astype(np.float32) for k, v in saved.weights.items()}
    checkpoint.write(path, saved)
    with pytest.raises(DataError) as info:
        checkpoint.read(path)
    assert info.value.message == (
        f"{path}: damaged gradlab checkpoint: tensor W1 has dtype F32; it must be float64 "
        "(F64), the model's dtype."
    )


# --- a worker's view of its launcher ---------------------------------------------------


def test_a_worker_whose_launcher_is_alive_leaves_the_log_folder_to_it() -> None:
    from gradlab.distributed.launch import _launcher_gone

    assert not _launcher_gone(str(os.getppid()), wait=0.0)  # our parent, pytest's runner
    assert not _launcher_gone(str(os.getppid()), wait=0.05)  # ... watched for a while


def test_a_worker_whose_parent_is_no_longer_the_launcher_cleans_for_it() -> None:
    from gradlab.distributed.launch import _launcher_gone

    assert _launcher_gone(str(os.getpid()), wait=0.0)  # not our parent: re-parented


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_worker_sees_a_launcher_that_is_exiting_as_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gradlab.distributed import launch as launch_module

    # a child that has exited and not been reaped is a zombie ("Z"), as a launcher is
    # while its last threads go; pretend it is this process's parent
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        stat = Path(f"/proc/{child.pid}/stat")
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.01)
        monkeypatch.setattr(launch_module.os, "getppid", lambda: child.pid)
        assert launch_module._launcher_gone(str(child.pid), wait=0.0)
    finally:
        child.wait()


TEARDOWN_PROBE = """
import atexit, sys
class Teardown:
    def __del__(self):
        print("torn down", flush=True)
probe = Teardown()  # its __del__ runs only in the interpreter's teardown
atexit.register(print, "exit handler")
sys.stdout.write("no newline yet ")
"""


def _probe(tail: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    return subprocess.run(
        [sys.executable, "-c", TEARDOWN_PROBE + tail],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_exit_without_teardown_runs_exit_handlers_flushes_and_skips_the_teardown() -> None:
    done = _probe("from gradlab.distributed import exit_without_teardown\nexit_without_teardown(3)")
    assert (done.returncode, done.stdout) == (3, "no newline yet exit handler\n")
    normal = _probe("sys.exit(3)")  # the probe tells the two apart
    assert (normal.returncode, normal.stdout) == (3, "no newline yet exit handler\ntorn down\n")


#: A thread that Python's exit waits for (not a daemon), still running when exit_with runs.
WORKING_THREAD = """
import threading, time
def work():
    time.sleep(0.3)
    print("thread done", flush=True)
threading.Thread(target=work).start()
"""


def test_exit_with_skips_the_teardown_when_no_thread_is_left_to_wait_for() -> None:
    """The teardown added 30-180 ms to a finished command (bench/experiments/exit_teardown)."""
    done = _probe("from gradlab.process import exit_with\nexit_with(6)")
    assert (done.returncode, done.stdout) == (6, "no newline yet exit handler\n")


def test_exit_with_waits_for_a_running_thread_and_then_tears_down() -> None:
    proc = _probe(WORKING_THREAD + "from gradlab.process import exit_with\nexit_with(6)")
    assert proc.returncode == 6, proc.stderr
    assert proc.stdout == "no newline yet thread done\nexit handler\ntorn down\n"


def test_a_thread_left_in_a_native_call_makes_exit_skip_the_teardown() -> None:
    """A store client's thread left inside torch can abort the interpreter's teardown
    (status -6 instead of the command's): the exit then skips the teardown, even where
    another thread would otherwise be waited for."""
    tail = "from gradlab.process import left_a_native_thread, exit_with\n"
    done = _probe(WORKING_THREAD + tail + "left_a_native_thread()\nexit_with(6)")
    assert (done.returncode, done.stdout) == (6, "no newline yet exit handler\n")


WORKER_TAIL = """
import pickle
from gradlab.distributed import made_a_group
from gradlab.distributed.launch import _worker
from gradlab.errors import DataError
def job(made, end):
    made_a_group(made)
    if end == "error":
        raise DataError("no rows")
    if end == "exit":
        sys.exit(5)
    return [1, 2]
result = _worker(job, {made}, {end!r})
if {send}:  # as PyTorch's launcher sends it: pickled
    assert pickle.loads(pickle.dumps(result)) == [1, 2]
"""


@pytest.mark.parametrize(
    ("made", "end", "send", "status", "torn_down"),
    [
        (True, "return", True, 0, False),
        (True, "return", False, 1, False),
        (True, "error", False, ExitStatus.USAGE, False),
        (True, "exit", False, 5, False),
        (False, "return", True, 0, True),
    ],
    ids=["result-sent", "result-not-sent", "gradlab-error", "sys-exit", "no-group"],
)
def test_a_worker_that_made_a_group_ends_with_its_status_without_teardown(
    tmp_path: Path, made: bool, end: str, send: bool, status: int, torn_down: bool
) -> None:
    """The status is the worker's: 0 once its result has gone to the launcher, else what
    ended it; a worker that made no group exits as usual."""
    done = _probe(
        f"import os\nos.environ['GRADLAB_WORKER_LOGS'] = {str(tmp_path)!r}\n"
        + WORKER_TAIL.format(made=made, end=end, send=send)
    )
    assert done.returncode == status, done.stderr
    assert ("torn down" in done.stdout) is torn_down
    assert "exit handler" in done.stdout


@pytest.mark.parametrize("made", [True, False], ids=["worker", "alone"])
def test_the_gradlab_command_of_a_worker_exits_with_its_status_without_teardown(
    made: bool,
) -> None:
    done = _probe(
        "from gradlab.distributed import made_a_group\n"
        f"made_a_group({made})\n"
        "sys.argv = ['gradlab']  # no command: usage, status 2\n"
        "from gradlab.cli import run\n"
        "run()\n"
    )
    assert done.returncode == ExitStatus.USAGE
    assert done.stdout.startswith("no newline yet exit handler\n")
    # a worker never takes the teardown; a process alone skips it too where no thread
    # is left to wait for (gradlab.process.exit_with)
    assert "torn down" not in done.stdout


def test_a_crash_of_the_gradlab_command_in_a_worker_is_reported_and_exits_1() -> None:
    done = _probe(
        "from gradlab.distributed import made_a_group\n"
        "made_a_group(True)\n"
        "import gradlab.cli\n"
        "def broken(): raise RuntimeError('a bug in a command')\n"
        "gradlab.cli.main = broken\n"
        "gradlab.cli.run()\n"
    )
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "RuntimeError: a bug in a command" in done.stderr
    assert done.stdout == "no newline yet exit handler\n"  # handlers run, no teardown


def test_more_workers_than_four_per_cpu_are_refused_before_any_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert Launch(nproc=8).check() == ("127.0.0.1", 0)
    with pytest.raises(UsageError) as info:
        Launch(nproc=9).check()
    assert info.value.message == (
        "--nproc 9 (n_procs in Python) is more worker processes than this machine's 2 CPU(s) "
        "can run: at most 8 (4 per CPU)."
    )
    code = main(["train", "softmax", "--nproc", "1000", "--out", str(tmp_path / "run")])
    assert code == ExitStatus.USAGE
    assert "--nproc 1000 (n_procs in Python) is more worker processes" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("raw", [b"127.0.0.1:29500", b"\xff\xfe", b"[1, 2]", b'{"host": "a"}'])
def test_a_node_record_of_another_gradlab_version_is_named_not_a_traceback(raw: bytes) -> None:
    """A node running an older gradlab wrote its rendezvous record in another form, which
    json.loads refused with a traceback."""
    from gradlab.distributed.launch import _node_record

    with pytest.raises(UsageError) as info:
        _node_record(raw, 1)
    assert info.value.message.startswith(
        "node rank 1 of this job runs another version of gradlab: its rendezvous record reads "
    )
    assert info.value.hint == "Install the same gradlab on every node."
    record = {"host": "n0", "pid": 7, "nnodes": 2}
    assert _node_record(json.dumps(record).encode(), 0) == record


def test_a_ctrl_c_while_a_worker_is_started_waits_until_it_has_its_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C raised between spawning a worker and writing its start-up data to its pipe
    left the worker printing multiprocessing's traceback (EOFError: Ran out of input)."""
    import signal
    from multiprocessing import popen_spawn_posix

    from gradlab.distributed.launch import _starts_uninterrupted

    steps: list[str] = []

    def launch(self: Any, process_obj: Any) -> None:  # as Popen._launch: spawn, then write
        steps.append("spawned")
        os.kill(os.getpid(), signal.SIGINT)  # the terminal's Ctrl-C, right then
        time.sleep(0.2)  # Python would run the handler here, between bytecodes
        steps.append("data written")

    monkeypatch.setattr(popen_spawn_posix.Popen, "_launch", launch)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:

        def start_one() -> None:
            with _starts_uninterrupted():
                popen_spawn_posix.Popen._launch(None, None)
                time.sleep(0.5)  # the held Ctrl-C arrives once the start is over

        with pytest.raises(KeyboardInterrupt):
            start_one()
        assert steps == ["spawned", "data written"]
        assert popen_spawn_posix.Popen._launch is launch  # put back on the way out
    finally:
        signal.signal(signal.SIGINT, previous)
