"""Resume is exact and honest.

Exact: on a fixed thread count an interrupted and resumed run ends on the very weights
(and optimizer state) of an uninterrupted one, on both engines, with and without
momentum (``np.array_equal``, not closeness). Honest: ``--resume`` continues with the
checkpoint's hyperparameters and seed unless told otherwise, and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradlab import checkpoint
from gradlab.cli import main
from gradlab.engines.optstate import SavedOptimizer
from gradlab.jobs.train import TrainRequest, run_train
from gradlab.models import MLPClassifier, SoftmaxRegression
from gradlab.train import Callback


def blobs(n: int = 300, d: int = 16, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 2, size=(k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


class StopAt(Callback):
    """Ctrl-C in the middle of an epoch."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, epoch: int, batch: int, stats: Any) -> None:
        if (epoch, batch) == (self.epoch, self.batch):
            raise KeyboardInterrupt


ENGINES = ["numpy", pytest.param("torch", marks=pytest.mark.torch)]


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("engine", ENGINES)
def test_interrupted_and_resumed_training_equals_uninterrupted_bit_for_bit(
    tmp_path: Path, engine: str, momentum: float
) -> None:
    if engine == "torch":
        pytest.importorskip("torch")
    X, y = blobs()
    ck = tmp_path / "m.safetensors"
    kw: dict[str, Any] = {
        "hidden": (8,), "batch_size": 32, "engine": engine, "momentum": momentum,
        "cpu_threads": 1, "epochs": 4, "random_state": 3,
    }  # fmt: skip
    straight = MLPClassifier(**kw).fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        MLPClassifier(**kw).fit(X, y, checkpoint=ck, callbacks=[StopAt(3, 4)])
    assert checkpoint.load_meta(ck)["history"]["epoch"] == [1.0, 2.0]
    resumed = MLPClassifier(**kw).fit(X, y, checkpoint=ck, resume=True)
    assert resumed.history_["epoch"] == [1.0, 2.0, 3.0, 4.0]
    for name, value in straight.params_.items():
        assert np.array_equal(resumed.params_[name], value), name
    opt, again = straight._train_state.optimizer, resumed._train_state.optimizer
    assert opt.step == again.step
    assert (
        set(opt.arrays)
        == set(again.arrays)
        == ({f"momentum_buffer/{p}" for p in ("W1", "b1", "W2", "b2")} if momentum else set())
    )
    for name, value in opt.arrays.items():
        assert np.array_equal(again.arrays[name], value), name
    for column in ("train_loss", "train_accuracy"):
        assert resumed.history_[column] == straight.history_[column]


def test_a_saved_model_resumes_with_its_momentum_buffers(tmp_path: Path) -> None:
    X, y = blobs()
    kw: dict[str, Any] = {"hidden": (8,), "momentum": 0.9, "cpu_threads": 1}
    straight = MLPClassifier(epochs=3, **kw).fit(X, y)
    path = MLPClassifier(epochs=1, **kw).fit(X, y).save(tmp_path / "m.safetensors")
    resumed = MLPClassifier(epochs=3, **kw).fit(X, y, checkpoint=path, resume=True)
    for name, value in straight.params_.items():
        assert np.array_equal(resumed.params_[name], value), name


def test_random_state_none_resumes_with_the_seed_it_drew(tmp_path: Path) -> None:
    X, y = blobs()
    ck = tmp_path / "m.safetensors"
    first = SoftmaxRegression(epochs=1, random_state=None, cpu_threads=1).fit(X, y, checkpoint=ck)
    again = SoftmaxRegression(epochs=2, random_state=None, cpu_threads=1)
    again.fit(X, y, checkpoint=ck, resume=True)
    assert again.seed_ == first.seed_
    straight = SoftmaxRegression(epochs=2, random_state=first.seed_, cpu_threads=1).fit(X, y)
    assert np.array_equal(again.params_["W1"], straight.params_["W1"])


def test_momentum_buffers_convert_between_engine_units_and_rates() -> None:
    rng = np.random.default_rng(0)
    buf = rng.normal(size=(3, 2)).astype(np.float32)
    adam = rng.normal(size=(3, 2)).astype(np.float32)
    grad_units = SavedOptimizer({"name": "sgd", "lr": 0.1, "momentum": 0.9}, 4,
                                {"momentum_buffer/W1": buf})  # fmt: skip
    assert grad_units.in_units("gradient", None) is grad_units
    step = grad_units.in_units("step", 0.5)
    # step units: lr * v, one float32 rounding
    np.testing.assert_allclose(step.arrays["momentum_buffer/W1"], 0.5 * buf, rtol=2**-24, atol=0)
    assert (step.units, step.lr, step.step) == ("step", 0.5, 4)
    back = step.in_units("gradient", None)
    np.testing.assert_allclose(back.arrays["momentum_buffer/W1"], buf, rtol=2 * 2**-24, atol=0)
    assert step.in_units("step", 0.5) is step  # same units, same rate: untouched
    # a new rate: torch.optim.SGD's semantics, the step becomes new_lr * v
    rescaled = step.in_units("step", 0.25)
    np.testing.assert_allclose(
        rescaled.arrays["momentum_buffer/W1"], 0.25 * buf, rtol=4 * 2**-24, atol=0
    )
    # only momentum buffers have units
    other = SavedOptimizer({"name": "adam"}, 2, {"exp_avg/W1": adam}, "step", 0.5)
    assert other.in_units("gradient", None).arrays["exp_avg/W1"] is adam


# ------------------------------------------------------------------ the command line


def request(out: Path, resume: bool = False, **given: Any) -> TrainRequest:
    return TrainRequest(
        model=given.pop("model", "softmax"),
        out=out,
        given={"cpu_threads": 1, **given},
        resume=resume,
        plots=False,
        quiet=True,
    )


@pytest.mark.parametrize(
    ("model", "given"),
    [("softmax", {"lr": 0.5, "random_state": 5}), ("mlp", {"hidden": (16,), "random_state": 2})],
)
def test_the_resume_job_continues_exactly_with_the_checkpoints_settings(
    tmp_path: Path, model: str, given: dict[str, Any]
) -> None:
    notes: list[str] = []
    run_train(request(tmp_path / "a", model=model, epochs=1, **given), say=notes.append)
    resumed = run_train(request(tmp_path / "a", True, model=model, epochs=3), say=notes.append)
    straight = run_train(request(tmp_path / "b", model=model, epochs=3, **given))
    for name, value in straight.model.params_.items():
        assert np.array_equal(resumed.model.params_[name], value), name
    seed = given["random_state"]
    assert "with the checkpoint's " in notes[0]
    assert f"seed {seed}" in notes[0]
    assert "training to epoch 3" in notes[0]
    assert len(notes) == 1  # no override announced


def test_cli_resume_uses_the_checkpoints_lr_and_seed_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "softmax", "--out", str(tmp_path), "--quiet", "--no-plots"]
    assert main([*base, "--lr", "0.5", "--seed", "5", "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main([*base, "--epochs", "3", "--resume"]) == 0
    err = capsys.readouterr().err
    assert (
        f"gradlab train: resuming {tmp_path / 'model.safetensors'} after epoch 1 with the "
        "checkpoint's lr 0.5, batch size 256, momentum 0, engine auto, device auto, seed 5; "
        "training to epoch 3."
    ) in err
    meta = checkpoint.load_meta(tmp_path / "model.safetensors")
    assert meta["hyperparameters"]["lr"] == 0.5
    assert meta["seed"] == 5
    assert meta["history"]["epoch"] == [1.0, 2.0, 3.0]


def test_cli_resume_announces_an_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "softmax", "--out", str(tmp_path), "--quiet", "--no-plots"]
    assert main([*base, "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main([*base, "--epochs", "2", "--resume", "--lr", "0.2", "--seed", "4"]) == 0
    err = capsys.readouterr().err
    assert (
        "resuming with --lr 0.2 (the checkpoint's: 0.1), --seed 4 (the checkpoint's: 0); the "
        "run will no longer match an uninterrupted one."
    ) in err
    assert checkpoint.load_meta(tmp_path / "model.safetensors")["hyperparameters"]["lr"] == 0.2


def test_cli_resume_of_an_mlp_without_hidden_layers_keeps_its_momentum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "mlp", "--out", str(tmp_path), "--quiet", "--no-plots"]
    assert main([*base, "--hidden", "", "--momentum", "0", "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main([*base, "--epochs", "2", "--resume"]) == 0
    err = capsys.readouterr().err
    assert 'hidden "", lr 0.05, batch size 200, momentum 0,' in err
    hp = checkpoint.load_meta(tmp_path / "model.safetensors")["hyperparameters"]
    assert (hp["momentum"], hp["hidden"]) == (0.0, [])


def test_cli_resume_takes_the_checkpoints_epoch_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "softmax", "--out", str(tmp_path), "--quiet", "--no-plots", "--json"]
    assert main([*base, "--epochs", "3"]) == 0
    capsys.readouterr()
    assert main([*base, "--resume"]) == 0
    out = capsys.readouterr()
    assert "already holds 3 epoch(s), which is --epochs 3 or more: nothing to train" in out.err


def test_resuming_a_numpy_run_with_several_workers_says_to_add_engine_torch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The engine came from the checkpoint; the hint said to leave it at 'auto'."""
    pytest.importorskip("torch")
    base = ["train", "mlp", "--hidden", "8", "--no-plots", "--quiet", "--out", str(tmp_path)]
    assert main([*base, "--engine", "numpy", "--epochs", "1"]) == 0
    assert main([*base, "--epochs", "2", "--nproc", "2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.endswith(
        "\nThe checkpoint was trained with --engine numpy, which --resume keeps; add --engine "
        "torch to go on with several workers (its weights carry over).\n"
    )


def test_history_files_agree_with_the_checkpoint_after_a_stop_between_them(
    tmp_path: Path,
) -> None:
    """The checkpoint is written first at an epoch's end; a Ctrl-C before the history files
    left them an epoch behind it."""
    from gradlab.jobs.train import TrainRequest, run_train
    from gradlab.train import Callback

    class StopAtTheEndOf(Callback):
        def __init__(self, epoch: int) -> None:
            self.epoch = epoch

        def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
            if epoch == self.epoch:
                raise KeyboardInterrupt

    request = TrainRequest("softmax", out=tmp_path, given={"epochs": 5}, plots=False)
    result = run_train(request, progress=[StopAtTheEndOf(2)], say=lambda _: None)
    assert result.interrupted
    assert result.saved_epochs == 2
    rows = (tmp_path / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2  # the header, then the two epochs the checkpoint holds


def test_a_new_run_into_a_used_folder_says_it_replaces_the_earlier_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "softmax", "--out", str(tmp_path), "--quiet", "--no-plots"]
    assert main([*base, "--epochs", "2"]) == 0
    assert "replacing" not in capsys.readouterr().err  # a fresh folder: nothing to say
    assert main([*base, "--epochs", "1"]) == 0
    assert (
        f"gradlab train: replacing the earlier run in {tmp_path} (softmax, 2 epochs): its "
        "pictures are removed when training starts, its model and history when this run "
        "saves its first epoch. Add --resume to continue a run instead, or give another --out to "
        "keep it.\n"
    ) in capsys.readouterr().err
    assert checkpoint.load_meta(tmp_path / "model.safetensors")["history"]["epoch"] == [1.0]


def test_a_new_run_stopped_early_leaves_no_picture_of_the_run_it_replaces(
    tmp_path: Path,
) -> None:
    """The earlier run's pictures stayed beside the new run's checkpoint after a Ctrl-C,
    drawn from a model that was no longer there."""
    from gradlab.jobs.train import PICTURES

    class StopAtTheEndOf(Callback):
        def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
            raise KeyboardInterrupt

    first = TrainRequest("softmax", out=tmp_path, given={"epochs": 1, "cpu_threads": 1})
    run_train(first, say=lambda _: None)
    assert all((tmp_path / name).exists() for name in PICTURES)
    again = TrainRequest("softmax", out=tmp_path, given={"epochs": 3, "lr": 0.2}, plots=False)
    result = run_train(again, progress=[StopAtTheEndOf()], say=lambda _: None)
    assert (result.interrupted, result.saved_epochs) == (True, 1)
    assert checkpoint.load_meta(tmp_path / "model.safetensors")["hyperparameters"]["lr"] == 0.2
    assert [name for name in PICTURES if (tmp_path / name).exists()] == []


def test_an_interrupted_resume_keeps_the_pictures_of_its_own_run(tmp_path: Path) -> None:
    from gradlab.jobs.train import PICTURES

    class Stop(Callback):
        def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
            raise KeyboardInterrupt

    first = TrainRequest("softmax", out=tmp_path, given={"epochs": 1, "cpu_threads": 1})
    run_train(first, say=lambda _: None)
    resumed = TrainRequest("softmax", out=tmp_path, given={"epochs": 3}, resume=True)
    assert run_train(resumed, progress=[Stop()], say=lambda _: None).saved_epochs == 2
    assert all((tmp_path / name).exists() for name in PICTURES)


def test_a_resume_with_nothing_to_train_does_not_say_it_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "nothing to train", then "training on 1347 samples ..."."""
    base = ["train", "softmax", "--out", str(tmp_path), "--no-plots"]
    assert main([*base, "--epochs", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert main([*base, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "nothing to train" in err
    assert "training on" not in err


def test_a_refused_run_into_a_used_folder_does_not_say_it_replaces_the_earlier_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "softmax", "--out", str(tmp_path), "--quiet", "--no-plots"]
    assert main([*base, "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main([*base, "--epochs", "1", "--validation-fraction", "0.5"]) == 2  # refused
    assert "replacing" not in capsys.readouterr().err


def test_a_numpy_run_resumes_on_numpy_when_a_gpu_appears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'auto' chose numpy for the run; resumed where PyTorch saw a GPU, it chose torch and
    the numbers no longer matched an uninterrupted run, without a word."""
    import gradlab.engines.gpu as gpu

    run_train(request(tmp_path / "a", epochs=1, random_state=3), say=lambda _: None)
    assert checkpoint.load_meta(tmp_path / "a" / "model.safetensors")["engine"] == "numpy"
    monkeypatch.setattr(gpu, "cuda_available", lambda: True)
    resumed = run_train(request(tmp_path / "a", True, epochs=2), say=lambda _: None)
    assert checkpoint.load_meta(tmp_path / "a" / "model.safetensors")["engine"] == "numpy"
    monkeypatch.undo()
    straight = run_train(request(tmp_path / "b", epochs=2, random_state=3))
    for name, value in straight.model.params_.items():
        assert np.array_equal(resumed.model.params_[name], value), name


class StopAfterTheFirstEpoch(Callback):
    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("schedule", "flags"),
    [("cosine", {"warmup_steps": 5}), ("step", {"step_size": 2}), ("cosine", {"t_max": 3})],
    ids=["cosine-with-warm-up", "step-with-its-size", "cosine-with-t-max"],
)
def test_resuming_with_the_same_schedule_and_flags_announces_no_override(
    tmp_path: Path, schedule: str, flags: dict[str, Any]
) -> None:
    """A stopped run resumed with its own command: the --schedule given was compared with
    the checkpoint's before the flags were applied ("--schedule cosine (the checkpoint's:
    cosine(warmup_steps=5))"), though the numbers matched."""
    notes: list[str] = []

    def run(resume: bool, *stops: Callback) -> Any:
        given = {"epochs": 3, "schedule": schedule, "cpu_threads": 1, "random_state": 1}
        job = TrainRequest(
            "softmax", out=tmp_path / "a", given=given, resume=resume, plots=False,
            quiet=True, schedule_flags=dict(flags),
        )  # fmt: skip
        return run_train(job, progress=stops, say=notes.append)

    run(False, StopAfterTheFirstEpoch())
    resumed = run(True)
    assert len(notes) == 1, notes  # what it resumes with; no override
    straight = run_train(
        TrainRequest(
            "softmax",
            out=tmp_path / "b",
            plots=False,
            quiet=True,
            schedule_flags=dict(flags),
            given={"epochs": 3, "schedule": schedule, "cpu_threads": 1, "random_state": 1},
        )
    )
    for name, value in straight.model.params_.items():
        assert np.array_equal(resumed.model.params_[name], value), name


@pytest.mark.parametrize(
    ("first", "announced"),
    [
        (["--schedule", "cosine"], True),
        (["--schedule", "step"], True),
        (["--schedule", "onecycle"], True),
        (["--schedule", "cosine", "--t-max", "4"], False),
        (["--schedule", "step", "--step-size", "1"], False),
        (["--schedule", "exponential"], False),
        (["--schedule", "warmup"], False),
        (["--warmup-steps", "4"], False),
    ],
    ids=["cosine", "step", "onecycle", "cosine-t-max", "step-size", "exponential", "warmup",
         "constant-warm-up"],
)  # fmt: skip
def test_a_new_epoch_count_is_announced_only_where_it_changes_the_rates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], first: list[str], announced: bool
) -> None:
    """It was announced for every schedule but constant, as changing the run."""
    base = ["train", "softmax", "--out", str(tmp_path), "--quiet", "--no-plots"]
    assert main([*base, "--epochs", "3", *first]) == 0
    capsys.readouterr()
    assert main([*base, "--epochs", "6", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "resuming " in err
    said = "--epochs 6 (the checkpoint's: 3), over which the schedule"
    assert (said in err) is announced, err


def test_a_resume_with_nothing_to_train_writes_the_history_files_from_the_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With history.csv deleted and history.json emptied, it said nothing to train and
    listed both files as written."""
    base = ["train", "softmax", "--out", str(tmp_path), "--no-plots", "--quiet"]
    assert main([*base, "--epochs", "2"]) == 0
    csv_text = (tmp_path / "history.csv").read_text()
    json_text = (tmp_path / "history.json").read_text()
    (tmp_path / "history.csv").unlink()
    (tmp_path / "history.json").write_text("")
    capsys.readouterr()
    assert main([*base, "--resume"]) == 0
    assert "nothing to train" in capsys.readouterr().err
    assert (tmp_path / "history.csv").read_text() == csv_text
    assert (tmp_path / "history.json").read_text() == json_text


@pytest.mark.parametrize(
    "refused",
    [
        ["--dtype", "float64", "--engine", "numpy"],  # refused by the fit's engine check
        ["--hidden", "100000,100000"],  # refused when the network is built: memory
    ],
    ids=["a dtype the engine lacks", "a network too large for memory"],
)
def test_a_request_refused_at_the_fit_leaves_the_earlier_runs_pictures(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    refused: list[str],
) -> None:
    """The earlier run's pictures were removed before the fit checked its settings, so a
    refused request (exit 2) left the folder with a model and no pictures."""
    from gradlab.jobs.train import PICTURES
    from gradlab.models import _init

    base = ["train", "mlp", "--out", str(tmp_path), "--quiet", "--epochs", "1"]
    assert main(base) == 0
    init_params = _init.init_params

    def no_memory_for_wide_layers(sizes: Any, *args: Any, **kwargs: Any) -> Any:
        # the allocation fails, simulated: an operating system that overcommits may
        # grant 40 GB and kill the process later
        if max(sizes) >= 100_000:
            raise MemoryError
        return init_params(sizes, *args, **kwargs)

    monkeypatch.setattr("gradlab.models._init.init_params", no_memory_for_wide_layers)
    before = {name: (tmp_path / name).read_bytes() for name in PICTURES}
    capsys.readouterr()
    assert main([*base, *refused]) == 2
    assert "error: " in capsys.readouterr().err
    assert {name: (tmp_path / name).read_bytes() for name in PICTURES} == before
