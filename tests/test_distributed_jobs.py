"""Data-parallel jobs, for real: worker processes on this machine, joined by gloo.

- **Equivalence**: in float64, W = 2 workers reach the weights of one process with the
  same global batch to rounding (<= 1e-12), also when the data set is not a multiple of
  the batch, and when the last batch is a single row (one worker's block is empty).
- **Resume**: a 2-worker run interrupted after an epoch, resumed with 2 and with 1 worker,
  ends on the weights of an uninterrupted run.
- **Faults**: a killed worker, Ctrl-C, SIGTERM and a killed launcher end the whole job with
  nothing left running (this test's own children, read from /proc) and no temporary folder
  left (every run gets its own TMPDIR); a rendezvous or a worker that never arrives ends
  the job after its timeout with a message naming it.
- **Several machines**, simulated by two launches on 127.0.0.1, and **torchrun**.

Every worker imports PyTorch, so each job takes seconds: all of these are ``slow``.

Tolerances: float64 weights after 2 epochs of ~20 steps; the two runs differ only in how
each global batch's gradient is summed (one product over the batch against two over its
halves, added by the all-reduce), a relative difference of a few units of 2**-53 per step.
1e-12 leaves three orders of magnitude for that to grow; a wrong split (a worker averaging
its own block, a sample counted twice, another shuffle) differs by 1e-8 or more.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradlab.errors import ExitStatus
from gradlab.train import Callback

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.slow, pytest.mark.torch]

SRC = Path(__file__).resolve().parents[1] / "src"
JOB_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
TOL = 1e-12
#: How long a job may take to stop after a worker is killed (the task's requirement).
STOP_SECONDS = 10


@pytest.fixture(autouse=True)
def _no_job(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in JOB_VARS:
        monkeypatch.delenv(name, raising=False)


def blobs(n: int, d: int = 12, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 2, size=(k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def biggest_gap(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


MLP = {"hidden": (16,), "epochs": 2, "batch_size": 256, "momentum": 0.9, "dtype": "float64",
       "engine": "torch", "cpu_threads": 1, "random_state": 5}  # fmt: skip


# ------------------------------------------------------------------ equivalence


@pytest.mark.parametrize("n", [3001, 2049], ids=["last-batch-185", "last-batch-1-row"])
def test_data_parallel_sgd_is_minibatch_sgd_with_the_global_batch(n: int, tmp_path: Path) -> None:
    from gradlab.models import MLPClassifier, load_classifier

    X, y = blobs(n)
    Xt, yt = blobs(300)
    one = MLPClassifier(**MLP).fit(X, y, eval_set=(Xt, yt))
    two = MLPClassifier(**MLP, n_procs=2).fit(X, y, eval_set=(Xt, yt))
    assert (one.world_size_, two.world_size_) == (1, 2)
    assert biggest_gap(one.params_, two.params_) <= TOL
    for column in ("train_loss", "test_loss"):
        np.testing.assert_allclose(two.history_[column], one.history_[column], rtol=TOL)
    for column in ("train_accuracy", "test_accuracy"):
        np.testing.assert_array_equal(two.history_[column], one.history_[column])
    # the workers' fitted state came back whole: the model saves, and loads the same
    loaded = load_classifier(two.save(tmp_path / "two.safetensors"))
    np.testing.assert_array_equal(loaded.predict_proba(Xt), two.predict_proba(Xt))


def test_without_a_random_state_the_workers_of_n_procs_share_one_seed() -> None:
    """random_state=None drew a seed in every worker, so each shuffled the data its own
    way: the global batches were no single process's."""
    from gradlab.models import MLPClassifier

    X, y = blobs(1001)
    two = MLPClassifier(**{**MLP, "random_state": None}, n_procs=2).fit(X, y)
    one = MLPClassifier(**{**MLP, "random_state": two.seed_}).fit(X, y)
    assert biggest_gap(one.params_, two.params_) <= TOL


# ------------------------------------------------------------------ resume


class CtrlCAt(Callback):
    """In worker 0, at (epoch, batch): Ctrl-C to the launcher, which stops every worker."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.at = (epoch, batch)

    def on_batch_end(self, epoch: int, batch: int, stats: Any) -> None:
        if (epoch, batch) == self.at:
            os.kill(os.getppid(), signal.SIGINT)
            time.sleep(120)  # the launcher's stop ends this


def test_an_interrupted_two_worker_run_resumes_with_two_or_one_worker(tmp_path: Path) -> None:
    from gradlab import checkpoint
    from gradlab.models import MLPClassifier

    X, y = blobs(1500)
    kw = {**MLP, "epochs": 3, "batch_size": 128}
    straight = MLPClassifier(**kw).fit(X, y)
    ck = tmp_path / "m.safetensors"
    with pytest.raises(KeyboardInterrupt):
        MLPClassifier(**kw, n_procs=2).fit(X, y, checkpoint=ck, callbacks=[CtrlCAt(2, 3)])
    assert checkpoint.read(ck).epochs_done == 1
    ck1 = tmp_path / "copy.safetensors"
    ck1.write_bytes(ck.read_bytes())
    on_two = MLPClassifier(**kw, n_procs=2).fit(X, y, checkpoint=ck, resume=True)
    on_one = MLPClassifier(**kw).fit(X, y, checkpoint=ck1, resume=True)
    assert biggest_gap(on_two.params_, straight.params_) <= TOL
    assert biggest_gap(on_one.params_, straight.params_) <= TOL
    assert on_two.n_iter_ == on_one.n_iter_ == 3


# ------------------------------------------------------------------ the command line


def job_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a gradlab process: this checkout first, its own TMPDIR."""
    env = {k: v for k, v in os.environ.items() if k not in JOB_VARS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmp)
    env.update(extra)
    return env


def gradlab(tmp_path: Path, *argv: Any, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gradlab", *(str(a) for a in argv)],
        env=env or job_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def weights(path: Path) -> dict[str, np.ndarray]:
    from gradlab import checkpoint

    return checkpoint.read(path).weights


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TRAIN = ("train", "mlp", "--hidden", "16", "--dtype", "float64", "--no-plots", "--quiet")


def test_cli_two_workers_then_resumed_alone_equal_one_process(tmp_path: Path) -> None:
    """Only rank 0 prints (one JSON object, with the world size) and writes; the checkpoint
    of a two-worker epoch resumes in one process to the weights of an uninterrupted run."""
    code, out, err = finish(
        gradlab(tmp_path, *TRAIN, "--nproc", "2", "--epochs", "1", "--out", "two", "--json")
    )
    assert code == 0, err
    summary = json.loads(out)  # exactly one JSON object on stdout
    assert summary["world_size"] == 2
    assert summary["engine"] == "torch"
    assert err == ""
    code, out, err = finish(
        gradlab(tmp_path, *TRAIN, "--epochs", "2", "--out", "two", "--resume", "--json")
    )
    assert code == 0, err
    assert json.loads(out)["world_size"] == 1
    code, out, err = finish(gradlab(tmp_path, *TRAIN, "--epochs", "2", "--out", "one"))
    assert code == 0, err
    assert "(torch engine): after 2 epochs" in out
    gap = biggest_gap(
        weights(tmp_path / "two/model.safetensors"), weights(tmp_path / "one/model.safetensors")
    )
    assert gap <= TOL
    assert not leftovers(tmp_path)  # no torchelastic_* or log folder


def test_a_two_worker_float32_run_resumes_alone_on_the_torch_engine(tmp_path: Path) -> None:
    """The checkpoint records engine "auto", which chose torch for two workers; resumed in
    one process, auto chose numpy, whose optimizer state is kept in another convention."""
    run = ("train", "mlp", "--hidden", "8", "--no-plots", "--quiet", "--out", "o", "--json")
    code, out, err = finish(gradlab(tmp_path, *run, "--nproc", "2", "--epochs", "1"))
    assert code == 0, err
    assert json.loads(out)["engine"] == "torch"
    code, out, err = finish(gradlab(tmp_path, *run, "--epochs", "2", "--resume"))
    assert code == 0, err
    assert (json.loads(out)["engine"], json.loads(out)["world_size"]) == ("torch", 1)


# ------------------------------------------------------------------ faults


def leftovers(tmp_path: Path) -> list[str]:
    """What a run left in its TMPDIR, but for torch's compile cache (``torchinductor_<user>``,
    which torch makes, and keeps, for a run in one process as well)."""
    return [p.name for p in (tmp_path / "tmp").iterdir() if not p.name.startswith("torchinductor_")]


def descendants(pid: int) -> set[int]:
    """The processes below ``pid``, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found.update(kids)
        todo.extend(kids)
    return found


def running(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def none_left(pids: set[int], within: float = STOP_SECONDS) -> set[int]:
    """The ones of ``pids`` still running after ``within`` seconds (polled)."""
    deadline = time.monotonic() + within
    while running(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return running(pids)


def long_job(tmp_path: Path) -> tuple[subprocess.Popen, set[int]]:
    """A two-worker run long enough to be stopped, once its first epoch is saved; and its
    processes (the launcher's children and theirs)."""
    proc = gradlab(tmp_path, "train", "mlp", "--hidden", "16", "--nproc", "2", "--epochs",
                   "100000", "--out", "run", "--no-plots", "--quiet")  # fmt: skip
    ckpt = tmp_path / "run" / "model.safetensors"
    deadline = time.monotonic() + 180
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ckpt.exists(), proc.communicate(timeout=30)
    kids = descendants(proc.pid)
    workers = {p for p in kids if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()}
    assert len(workers) == 2, kids
    return proc, kids


def test_a_killed_worker_ends_the_whole_job_and_is_named(tmp_path: Path) -> None:
    proc, kids = long_job(tmp_path)
    victim = max(p for p in kids if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text())
    os.kill(victim, signal.SIGKILL)
    code, _, err = finish(proc, timeout=STOP_SECONDS)
    assert code == ExitStatus.WORKER
    assert f"(process {victim}) was killed by SIGKILL; every worker of the job was stopped." in err
    assert "gradlab train: error: worker rank " in err
    assert "is saved in run/model.safetensors; continue with the same command and --resume." in err
    assert not none_left(kids)
    assert not leftovers(tmp_path)


@pytest.mark.parametrize(
    ("sig", "status", "said"),
    [
        (signal.SIGINT, ExitStatus.INTERRUPTED, "gradlab train: interrupted; epoch "),
        (signal.SIGTERM, ExitStatus.TERMINATED, "gradlab train: stopped by SIGTERM; epoch "),
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_ctrl_c_and_sigterm_stop_every_worker_and_keep_the_checkpoint(
    tmp_path: Path, sig: int, status: int, said: str
) -> None:
    from gradlab import checkpoint

    proc, kids = long_job(tmp_path)
    proc.send_signal(sig)
    code, _, err = finish(proc, timeout=60)
    assert code == status
    assert said in err  # said once, with what is saved
    assert err.endswith(
        " is saved in run/model.safetensors.\nContinue with the same command and --resume.\n"
    )
    assert checkpoint.read(tmp_path / "run" / "model.safetensors").epochs_done >= 1
    assert not none_left(kids)
    assert not leftovers(tmp_path)


def test_a_launcher_killed_outright_takes_its_workers_and_folders_along(tmp_path: Path) -> None:
    proc, kids = long_job(tmp_path)
    proc.kill()
    proc.wait(timeout=30)
    assert not none_left(kids)
    assert not leftovers(tmp_path)


def test_a_node_that_never_arrives_ends_the_job_after_the_timeout(tmp_path: Path) -> None:
    port = free_port()
    rdzv = ("--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-timeout", "2")
    code, _, err = finish(
        gradlab(tmp_path, *TRAIN, *rdzv, "--node-rank", "0", "--out", "n0"), timeout=60
    )
    assert code == ExitStatus.WORKER
    assert (
        f"gradlab train: error: node rank 1 of 2 never reached the rendezvous at "
        f"127.0.0.1:{port} within 2 s.\n"
    ) in err
    assert "or raise --rdzv-timeout." in err
    code, _, err = finish(
        gradlab(tmp_path, *TRAIN, *rdzv, "--node-rank", "1", "--out", "n1"), timeout=60
    )
    assert code == ExitStatus.WORKER
    assert (
        f"gradlab train: error: node rank 1 could not reach the rendezvous at 127.0.0.1:{port} "
        "within 2 s ("
    ) in err
    assert not (tmp_path / "n1").exists()  # node 1 writes nothing
    assert not leftovers(tmp_path)


def test_nodes_started_with_different_nnodes_both_stop_at_once(tmp_path: Path) -> None:
    """Before, node 0 waited out the timeout and failed with torchelastic's traceback."""
    port = free_port()
    rdzv = ("--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-timeout", "120")
    nodes = [
        gradlab(tmp_path, *TRAIN, *rdzv, "--nnodes", n, "--node-rank", r, "--out", f"n{r}")
        for r, n in ((0, 2), (1, 3))
    ]
    try:
        results = [finish(node, timeout=90) for node in nodes]
    finally:
        for node in nodes:
            node.kill()  # only if it still runs
    for code, _, err in results:
        assert code == ExitStatus.USAGE, err
        assert re.search(
            r"^gradlab train: error: the nodes were started with different --nnodes: "
            r"2 on node rank 0 \(.+\), 3 on node rank 1 \(.+\)\.\n"
            r"Start every node with the same --nnodes and --rdzv-endpoint",
            err,
            re.MULTILINE,
        ), err
        assert "Traceback" not in err
    assert not leftovers(tmp_path)


def test_a_second_node_with_a_rank_already_taken_is_refused(tmp_path: Path) -> None:
    """Before, the second one waited past its timeout for good while the job ran."""
    port = free_port()
    rdzv = ("--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-timeout", "120")
    nodes = [
        gradlab(tmp_path, *TRAIN, *rdzv, "--node-rank", r, "--out", out)
        for r, out in ((0, "n0"), (1, "a"), (1, "b"))
    ]
    try:
        results = [finish(node, timeout=180) for node in nodes]
    finally:
        for node in nodes:
            node.kill()  # only if it still runs
    codes = [code for code, _, _ in results]
    assert codes[0] == 0, results[0]
    assert sorted(codes[1:]) == [0, ExitStatus.USAGE], results
    refused, kept = (1, 2) if codes[1] else (2, 1)
    err = results[refused][2]
    assert re.search(
        rf"^gradlab train: error: node rank 1 is taken: process {nodes[kept].pid} on .+ "
        rf"joined the rendezvous at 127\.0\.0\.1:{port} as node rank 1 first\.\n"
        r"Give every node its own --node-rank: 0 to N - 1 with --nnodes N\.",
        err,
        re.MULTILINE,
    ), err


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        ((["mlp", "--hidden", "16", "--epochs", "2"], ["mlp", "--hidden", "16", "--epochs", "1"]),
         "--epochs=2 on worker rank 0 (node 0), --epochs=1 on worker rank 1 (node 1)."),
        ((["mlp", "--hidden", "16"], ["softmax"]),
         "model 'mlp' (MLPClassifier) on worker rank 0 (node 0), model 'softmax' "
         "(SoftmaxRegression) on worker rank 1 (node 1)."),
    ],
    ids=["epochs", "model"],
)  # fmt: skip
def test_nodes_started_with_different_settings_stop_before_training_and_name_them(
    tmp_path: Path, flags: tuple[list[str], list[str]], named: str
) -> None:
    """Before, different --epochs ended node 0 with a lost contact in epoch 2 (node 1 exited
    0), different models with DDP's own error, and a different --lr or --seed trained on
    without a word."""
    port = free_port()
    rdzv = ("--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-timeout", "120")
    common = ("--dtype", "float64", "--no-plots", "--quiet", *rdzv)
    nodes = [
        gradlab(tmp_path, "train", *flags[r], *common, "--node-rank", r, "--out", f"n{r}")
        for r in (0, 1)
    ]
    try:
        results = [finish(node, timeout=180) for node in nodes]
    finally:
        for node in nodes:
            node.kill()  # only if it still runs
    for code, _, err in results:
        assert code == ExitStatus.USAGE, err
        assert err.startswith(
            "gradlab train: error: the workers of this job were started with different "
            f"settings: {named}\nEvery worker must run the same training on the same data"
        ), err
    assert not (tmp_path / "n0" / "model.safetensors").exists()  # no epoch trained
    assert not leftovers(tmp_path)


def silent_listener() -> socket.socket:
    """A socket on 127.0.0.1 that listens and never accepts or answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_silent_program_at_the_rendezvous_ends_node_1_after_the_timeout(
    tmp_path: Path,
) -> None:
    """torch's store client waits for good for the first answer of a program that accepts
    the connection (its ping reads without a timeout)."""
    with silent_listener() as held:
        port = held.getsockname()[1]
        rdzv = ("--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-timeout", "2")
        node = gradlab(tmp_path, *TRAIN, *rdzv, "--node-rank", "1", "--out", "n1")
        try:
            code, _, err = finish(node, timeout=90)
        finally:
            node.kill()  # only if it still runs: a node that waited for good
    assert code == ExitStatus.USAGE, err
    assert re.search(
        rf"^gradlab train: error: node rank 1 cannot join the rendezvous: process {os.getpid()} "
        rf"\(.*\) at 127\.0\.0\.1:{port} accepted the connection but did not answer as "
        r"PyTorch's store \(TCPStore\) within 2 s\.\n"
        r"Check --rdzv-endpoint: node rank 0's address and the port it was given",
        err,
        re.MULTILINE,
    ), err
    assert "Traceback" not in err
    assert not leftovers(tmp_path)


def test_sigterm_stops_a_node_waiting_for_a_silent_rendezvous(tmp_path: Path) -> None:
    """The wait for the store's answer is the launcher's main thread's: before, inside
    torch's blocking call, it ran no signal handler until that program went away."""
    with silent_listener() as held:
        port = held.getsockname()[1]
        rdzv = ("--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-timeout", "600")
        node = gradlab(tmp_path, *TRAIN, *rdzv, "--node-rank", "1", "--out", "n1")
        try:
            # the store's client has connected once the listener has a connection to accept
            deadline = time.monotonic() + 120
            while not select.select([held], [], [], 0.2)[0] and time.monotonic() < deadline:
                assert node.poll() is None, node.communicate(timeout=30)
            assert select.select([held], [], [], 0)[0], "node 1 never connected"
            node.send_signal(signal.SIGTERM)
            code, _, err = finish(node, timeout=60)
        finally:
            node.kill()  # only if it still runs: SIGTERM went unheard
    assert code == ExitStatus.TERMINATED, err
    assert "Traceback" not in err


def test_a_worker_that_never_joins_a_torchrun_style_job_is_named(tmp_path: Path) -> None:
    port = free_port()
    job = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2"}
    where = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "GRADLAB_JOIN_TIMEOUT": "2"}
    env = job_env(tmp_path, **job, **where)
    code, _, err = finish(gradlab(tmp_path, *TRAIN, "--out", "w0", env=env), timeout=60)
    assert code == ExitStatus.WORKER
    assert (
        f"gradlab train: error: worker rank 1 of 2 never joined the job at 127.0.0.1:{port} "
        "within 2 s.\n"
    ) in err
    assert "GRADLAB_JOIN_TIMEOUT under torchrun" in err


def test_two_nodes_on_one_machine_train_and_agree_with_one_process(tmp_path: Path) -> None:
    port = free_port()
    nodes = [
        gradlab(tmp_path, *TRAIN, "--epochs", "2", "--nnodes", "2", "--nproc", "1",
                "--node-rank", r, "--rdzv-endpoint", f"127.0.0.1:{port}", "--out", f"node{r}")
        for r in (0, 1)
    ]  # fmt: skip
    results = [finish(node) for node in nodes]
    assert [code for code, _, _ in results] == [0, 0], results
    assert "(torch engine, 2 workers): after 2 epochs" in results[0][1]
    assert results[1][1] == ""  # node 1 prints nothing
    assert not (tmp_path / "node1").exists()  # and writes nothing
    code, _, err = finish(gradlab(tmp_path, *TRAIN, "--epochs", "2", "--out", "one"))
    assert code == 0, err
    gap = biggest_gap(
        weights(tmp_path / "node0/model.safetensors"), weights(tmp_path / "one/model.safetensors")
    )
    assert gap <= TOL


def test_torchrun_runs_gradlab_train_as_it_is(tmp_path: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("no torchrun beside this Python")
    command = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "gradlab"]
    proc = subprocess.run(
        [*command, *TRAIN, "--epochs", "1", "--out", "tr", "--json"],
        env=job_env(tmp_path, OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["world_size"] == 2  # one summary: rank 0's
    code, _, err = finish(gradlab(tmp_path, *TRAIN, "--epochs", "1", "--out", "one"))
    assert code == 0, err
    gap = biggest_gap(
        weights(tmp_path / "tr/model.safetensors"), weights(tmp_path / "one/model.safetensors")
    )
    assert gap <= TOL


def _rank_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    found = [v[5:].decode() for v in environ if v.startswith(b"RANK=")]
    return found[0] if found else None


def test_under_torchrun_a_killed_worker_is_the_root_cause_not_the_one_that_lost_contact(
    tmp_path: Path,
) -> None:
    """The worker that lost contact waits (LOST_CONTACT_SECONDS) before it raises, so
    torchrun's agent, polling every 0.1 s, sees the killed one go first, names it as the
    root cause and stops the survivor by SIGTERM (status 143, or -15 if the signal came
    before gradlab's handler), before it could exit with its own lost-contact error
    (status 6, which the agent took for the root cause without the wait)."""
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("no torchrun beside this Python")
    proc = subprocess.Popen(
        [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "gradlab", "train",
         "mlp", "--hidden", "16", "--epochs", "100000", "--out", "run", "--no-plots",
         "--quiet"],
        env=job_env(tmp_path, OMP_NUM_THREADS="1"),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        ckpt = tmp_path / "run" / "model.safetensors"
        deadline = time.monotonic() + 180
        while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ckpt.exists(), proc.communicate(timeout=30)
        ranks = {_rank_of(p): p for p in descendants(proc.pid)}
        os.kill(ranks["1"], signal.SIGKILL)
        code, _, err = finish(proc, timeout=60)
    finally:
        proc.kill()
    assert code != 0
    others, root = err.split("Root Cause (first observed failure):", 1)
    assert re.search(r"rank\s*: 1 \(local_rank: 1\)\s+exitcode\s*: -9", root), root
    stopped = rf"rank\s*: 0 \(local_rank: 0\)\s+exitcode\s*: ({int(ExitStatus.TERMINATED)}|-15) "
    assert "<NO_OTHER_FAILURES>" in others or re.search(stopped, others), others[-3000:]


LEAVE_WITH_A_COLLECTIVE_IN_FLIGHT = """
import time, torch
import torch.distributed.nn.functional  # first: its defaults do not hold the group
from gradlab.distributed import env_world, exit_without_teardown
from gradlab.engines.distributed import data_parallel, join, leave
world = join(env_world(), device=torch.device("cpu"), timeout=60)
model = data_parallel(torch.nn.Linear(3, 2), world)  # its reducer holds the group
if world.rank == 1:
    time.sleep(1)  # rank 0 leaves while its all-reduce waits for this one
t = torch.ones(1 << 16)
work = torch.distributed.all_reduce(t, async_op=True)
del t, work  # gloo's thread holds the last reference: it needs the GIL to let go of it
leave(world)
del model  # the reducer goes, holding the GIL
print("left", flush=True)
exit_without_teardown(0)
"""


def test_leaving_a_job_with_a_collective_in_flight_neither_hangs_nor_aborts(
    tmp_path: Path,
) -> None:
    """A group freed after leave() (by the last model that holds it) would join gloo's
    threads while holding the GIL, which the thread finishing the collective waits for (a
    hang); the interpreter's teardown would stop that thread instead (an abort). Neither
    may happen."""
    port = free_port()
    where = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", LEAVE_WITH_A_COLLECTIVE_IN_FLIGHT],
            env=job_env(tmp_path, **where, RANK=r, LOCAL_RANK=r, LOCAL_WORLD_SIZE="2"),
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for r in ("0", "1")
    ]  # fmt: skip
    try:
        results = [finish(w, timeout=60) for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert [(code, out) for code, out, _ in results] == [(0, "left\n")] * 2, results


JOIN_TWICE = """
import torch
from gradlab.distributed import World, exit_without_teardown, made_a_group
from gradlab.engines.distributed import join, leave
assert not made_a_group()
for _ in range(2):  # the second job reuses the store the first one's kept group holds
    world = join(World(0, 1, 0, 1), device=torch.device("cpu"), timeout=30)
    assert made_a_group()
    leave(world)
print("joined twice", flush=True)
exit_without_teardown(0)
"""


def test_joining_marks_the_process_and_a_second_job_at_the_same_port_can_join(
    tmp_path: Path,
) -> None:
    where = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    done = subprocess.run(
        [sys.executable, "-c", JOIN_TWICE], env=job_env(tmp_path, **where),
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "joined twice\n"), done.stderr


def test_a_worker_error_comes_back_as_the_same_error() -> None:
    """A gradlab error raised in the workers is raised again by fit, message and all."""
    from gradlab.errors import DivergenceError
    from gradlab.models import MLPClassifier

    X, y = blobs(400)
    kw = {**MLP, "lr": 1e4}
    with pytest.raises(DivergenceError) as alone:
        MLPClassifier(**kw).fit(X * 1e3, y)
    with pytest.raises(DivergenceError) as together:
        MLPClassifier(**kw, n_procs=2).fit(X * 1e3, y)
    assert together.value.message == alone.value.message
    assert together.value.hint == alone.value.hint
    assert together.value.iteration == alone.value.iteration


class CrashAt(Callback):
    """A bug in worker 0, at (epoch, batch)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.at = (epoch, batch)

    def on_batch_end(self, epoch: int, batch: int, stats: Any) -> None:
        if (epoch, batch) == self.at:
            raise RuntimeError(f"a bug at epoch {epoch}, batch {batch}")


def test_a_crashing_worker_is_named_with_its_status_and_last_words(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tempfile

    from gradlab.errors import WorkerError
    from gradlab.models import MLPClassifier

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the launcher's temporary folder
    X, y = blobs(1000)
    with pytest.raises(WorkerError) as info:
        MLPClassifier(**MLP, n_procs=2).fit(X, y, callbacks=[CrashAt(1, 2)])
    assert list(tmp_path.iterdir()) == []  # no pytorch-errorfile-*.pickle left behind
    assert info.value.message.startswith("worker rank 0 (process ")
    assert info.value.message.endswith(
        ") failed with status 1: RuntimeError: a bug at epoch 1, batch 2; every worker of the "
        "job was stopped."
    )
    assert str(info.value.hint).startswith("Its last words:\n")
    assert "RuntimeError: a bug at epoch 1, batch 2" in str(info.value.hint)


def test_a_worker_of_a_job_started_by_hand_names_a_lost_peer(tmp_path: Path) -> None:
    """Without a launcher (RANK, WORLD_SIZE, MASTER_* set by hand, rank 0 hosting the
    store on MASTER_ADDR): a killed peer makes the other worker stop with its own message."""
    port = free_port()
    where = {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    argv = ("train", "mlp", "--hidden", "16", "--epochs", "100000", "--out", "run",
            "--no-plots", "--quiet")  # fmt: skip
    ranks = [gradlab(tmp_path, *argv, env=job_env(tmp_path, RANK=str(r), **where)) for r in (0, 1)]
    ckpt = tmp_path / "run" / "model.safetensors"
    deadline = time.monotonic() + 180
    while not ckpt.exists() and ranks[0].poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ckpt.exists(), ranks[0].communicate(timeout=30)
    ranks[1].kill()
    ranks[1].communicate(timeout=30)
    code, _, err = finish(ranks[0], timeout=60)
    assert code == ExitStatus.WORKER
    assert "gradlab train: error: worker rank 0 of 2 lost contact with the other workers in " in err
    assert " is saved in run/model.safetensors." in err


@pytest.mark.parametrize("after", [1.5, 2.5])
def test_ctrl_c_while_the_workers_start_prints_no_traceback(tmp_path: Path, after: float) -> None:
    """The terminal sends Ctrl-C to the whole process group, workers included; a worker
    still importing PyTorch must not print a KeyboardInterrupt traceback. They start with
    SIGINT blocked, and unblock it once their handler is in place."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradlab", "train", "softmax", "--nproc", "2", "--epochs", "1",
         "--no-plots", "--quiet", "--out", "run"],
        env=job_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    kids: set[int] = set()
    try:
        deadline = time.monotonic() + after
        while time.monotonic() < deadline:
            kids |= descendants(proc.pid)
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C
        code, _, err = finish(proc, timeout=60)
    finally:
        proc.kill()
    assert code == ExitStatus.INTERRUPTED, err
    assert "Traceback" not in err, err
    # on a slow host the Ctrl-C can come before the train command took charge; said once
    said = [line for line in err.splitlines() if ": interrupted" in line]
    assert len(said) == 1, err
    assert said[0].startswith(("gradlab train: interrupted; ", "gradlab: interrupted")), err
    assert not none_left(kids)


def test_a_script_that_fits_without_the_main_guard_fails_at_once_and_says_why(
    tmp_path: Path,
) -> None:
    """Each worker imports the script, whose fit then runs again: the workers died while
    starting, and the launcher blocked for good writing the call (arrays bigger than the
    pipe holds) into the pipe of a worker that was gone."""
    script = tmp_path / "no_guard.py"
    script.write_text(
        "import numpy as np\n"
        "from gradlab.models import MLPClassifier\n"
        "X = np.random.default_rng(0).normal(size=(4000, 64)).astype(np.float32)\n"
        "y = (X[:, 0] > 0).astype(int)\n"
        "MLPClassifier(engine='torch', n_procs=2, hidden=(8,), epochs=1).fit(X, y)\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert (
        "MLPClassifier: n_procs=2 starts worker processes, which import your script; this fit "
        "runs again as they do, because the script calls it outside "
        "'if __name__ == \"__main__\":'." in proc.stderr
    )


def test_under_nohup_a_hangup_leaves_a_two_worker_run_going(tmp_path: Path) -> None:
    """torchelastic handled SIGHUP although nohup ignored it, and its spawned workers did
    not inherit the ignoring: a closed terminal stopped the run with 129."""
    from gradlab import checkpoint

    proc = subprocess.Popen(
        [sys.executable, "-m", "gradlab", "train", "mlp", "--hidden", "16", "--nproc", "2",
         "--epochs", "100", "--out", "run", "--no-plots", "--quiet"],
        env=job_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # as nohup does
    )  # fmt: skip
    ckpt = tmp_path / "run" / "model.safetensors"
    try:
        deadline = time.monotonic() + 180
        while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate(timeout=30)
        os.killpg(proc.pid, signal.SIGHUP)  # the whole group, as a closed terminal does
        code, _, err = finish(proc, timeout=240)
    finally:
        proc.kill()
    assert code == 0, err
    assert checkpoint.read(ckpt).epochs_done == 100
