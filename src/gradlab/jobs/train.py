"""One run of ``gradlab train``: the data, the resume policy, the fit, the outputs.

The command parses its arguments into a :class:`TrainRequest` and prints what
:func:`run_train` returns; the policy lives here:

- **Defaults** are the estimators' (:data:`gradlab.models._spec.DEFAULTS`); the request
  carries only what the user gave.
- **Resume** continues with the checkpoint's hyperparameters and seed (and its epoch
  target), each overridden only by what the user gave; it says which it used, and
  announces each override that makes the run differ from an uninterrupted one. A
  checkpoint of another model or of other data is refused before training.
- **Interrupts** (Ctrl-C) leave the last finished epoch on disk, and the result says
  which epoch that is.
- **Data parallelism**: in a worker of a job (``RANK`` and ``WORLD_SIZE`` set, by
  ``torchrun`` or by ``gradlab train --nproc N``) every worker settles the same run and
  fits (the estimator joins the job); only rank 0 says anything, creates ``--out`` and
  writes or draws in it.

The model used is :class:`~gradlab.models._network.PlainClassifier`, the estimators'
behaviour without scikit-learn, which takes over a second to import.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradlab.errors import DataError, UsageError
from gradlab.models._spec import DEFAULTS, check_hyperparameters
from gradlab.process import a_worker_of_several
from gradlab.train import Callback

CHECKPOINT = "model.safetensors"
#: The pictures a run draws beside its checkpoint. A new run into a folder that holds an
#: earlier one removes that run's before it trains: after an interrupt they would sit
#: beside a checkpoint they no longer describe.
PICTURES = ("curves.png", "predictions.png", "confusion.png")
#: The command-line flag of each hyperparameter, for messages.
FLAGS = {
    "hidden": "--hidden",
    "lr": "--lr",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "momentum": "--momentum",
    "optimizer": "--optimizer",
    "schedule": "--schedule",
    "early_stopping": "--early-stopping",
    "n_iter_no_change": "--early-stopping",
    "validation_fraction": "--validation-fraction",
    "random_state": "--seed",
    "engine": "--engine",
    "device": "--device",
    "dtype": "--dtype",
}
#: What a resumed run takes from the checkpoint and reports (the others are kept silently).
REPORTED = ("hidden", "lr", "batch_size", "momentum", "random_state", "engine", "device")
#: Reported too, when they are not the defaults.
REPORTED_IF_SET = ("optimizer", "schedule", "early_stopping", "validation_fraction")
#: Overrides that change the numbers of a resumed run (the epoch target does not, unless
#: a schedule is laid out over the epochs).
CHANGES_RESULT = (
    "lr",
    "batch_size",
    "momentum",
    "optimizer",
    "schedule",
    "early_stopping",
    "n_iter_no_change",
    "validation_fraction",
    "random_state",
    "engine",
    "device",
    "dtype",
)
#: Schedule flags of the command line: the schedule's hyperparameter, and the named
#: schedules it applies to (``warmup_steps`` applies to all but onecycle).
SCHEDULE_FLAGS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "gamma": ("--gamma", "gamma", ("step", "exponential")),
    "step_size": ("--step-size", "step_size", ("step",)),
    "t_max": ("--t-max", "T_max", ("cosine",)),
    "warmup_steps": (
        "--warmup-steps",
        "warmup_steps",
        ("constant", "step", "exponential", "cosine", "warmup"),
    ),
}


def load_data(
    dataset: str,
    *,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    seed: int = 0,
    quiet: bool = False,
) -> Any:
    """The image data set ``dataset`` (an :class:`~gradlab.data.images.ImageDataset`).

    ``seed`` generates the ``synthetic`` images; ``quiet`` silences download messages.
    """
    if dataset in ("digits", "synthetic") and (data_dir or cache_dir):
        raise UsageError(
            f"--data-dir and --cache-dir are for mnist and fashion-mnist; {dataset} is built in.",
            hint="Add --dataset mnist or --dataset fashion-mnist.",
        )
    if dataset == "synthetic":
        from gradlab.data.synthetic import make_images

        return make_images(seed=seed)
    from gradlab.data.images import load_images

    return load_images(
        dataset,
        data_dir=data_dir,
        cache_dir=cache_dir,
        progress=False if quiet else None,
        log=_quiet_download_log if quiet else None,
    )


def _quiet_download_log(message: str) -> None:
    """The download ``log`` of a quiet run: only the line saying that it waits for another
    process's download is printed (without it, a run blocked on that looks hung)."""
    from gradlab.data.download import quiet_log  # loaded already: only downloads log

    quiet_log(message)


def _silent(message: str) -> None:
    """A ``say`` that drops every message (for the ranks other than the leader)."""


def data_classes(data: Any) -> Any:
    """The classes of an image data set: labels ``0 .. K-1`` with its class names."""
    from gradlab.models._labels import Classes

    return Classes(np.arange(len(data.classes)), tuple(data.classes))


@dataclass
class TrainRequest:
    """What ``gradlab train`` was asked to do."""

    model: str
    """``softmax`` or ``mlp``."""
    dataset: str = "digits"
    data_dir: Path | None = None
    cache_dir: Path | None = None
    out: Path = Path("runs/train")
    given: dict[str, Any] = field(default_factory=dict)
    """The hyperparameters the user gave, by the estimators' names (``random_state``
    for ``--seed``); the others come from the defaults or, resuming, the checkpoint."""
    resume: bool = False
    grid: int = 18
    plots: bool = True
    quiet: bool = False
    schedule_flags: dict[str, Any] = field(default_factory=dict)
    """The schedule's hyperparameters from ``--gamma``, ``--step-size``, ``--t-max``,
    ``--warmup-steps`` (by :data:`SCHEDULE_FLAGS` key), applied to the schedule the
    run uses (``--schedule``, or the checkpoint's when resuming)."""


@dataclass
class TrainResult:
    """What a run produced."""

    model: Any
    data: Any
    checkpoint: Path
    files: list[Path]
    interrupted: bool = False
    saved_epochs: int = 0
    """Epochs in the checkpoint on disk (after an interrupt: what a resume starts from)."""
    interrupt: KeyboardInterrupt | None = None
    """The Ctrl-C (or SIGTERM, :class:`~gradlab.errors.Terminated`) that stopped the run."""


def _show(name: str, value: Any) -> str:
    if name == "hidden":
        return ",".join(str(h) for h in value) or '""'
    if isinstance(value, float):
        return f"{value:g}"
    return describe_choice(value)


def describe_choice(value: Any) -> str:
    """An optimizer or schedule as a person reads it: ``adam``, ``step(step_size=3,
    gamma=0.5)``."""
    from gradlab.optim.rules import Rule
    from gradlab.optim.schedules import Schedule

    if isinstance(value, Rule | Schedule):
        value = value.config()
    if isinstance(value, Mapping):
        rest = ", ".join(f"{k}={_part(v)}" for k, v in value.items() if k != "name")
        return f"{value.get('name')}({rest})" if rest else str(value.get("name"))
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _part(value: Any) -> str:
    """One hyperparameter of :func:`describe_choice`: numbers short, nested schedules (a
    warm-up's parts) described the same way."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return describe_choice(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_part(v) for v in value) + "]"
    return str(value)


def with_schedule_flags(schedule: Any, flags: Mapping[str, Any]) -> Any:
    """``schedule`` (a name or a dict) with the command line's schedule flags set.

    Raises
    ------
    UsageError
        A flag that does not apply to the schedule.
    """
    if not flags:
        return schedule
    spec = {"name": schedule} if isinstance(schedule, str) else dict(schedule)
    name = spec["name"]
    for key, value in flags.items():
        flag, param, applies = SCHEDULE_FLAGS[key]
        if name not in applies:
            where = " or ".join(applies)
            raise UsageError(
                f"{flag} applies to --schedule {where}, not {name}.",
                hint=f"Add --schedule {applies[0]}, or leave out {flag}.",
            )
        spec[param] = value
    return spec


def resume_hyperparameters(
    model: str, saved: Mapping[str, Any], given: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str], list[str]]:
    """The hyperparameters of a resumed run: the checkpoint's, overridden by ``given``.

    Returns
    -------
    params : dict
        Every constructor parameter.
    kept : list of str
        ``"lr 0.5"``, ...: what was taken from the checkpoint, to report.
    overrides : list of str
        ``"--lr 0.2 (the checkpoint's: 0.1)"``, ...: given values that differ from the
        checkpoint's and change the run's numbers.
    """
    defaults = DEFAULTS[model]
    before = {name: saved.get(name, default) for name, default in defaults.items()}
    params = {**before, **given}
    # the rate is compared as used: "auto" and the rate it stands for are the same rate,
    # and "auto" stands for another rate once the optimizer or the schedule changes
    rates = (_rate(model, before), _rate(model, params))
    kept, overrides = [], []
    for name in defaults:
        old, new = before[name], params[name]
        if name == "lr":
            old, new = rates
        if name in given or (name == "lr" and new != old):
            same = tuple(new) == tuple(old) if name == "hidden" else new == old
            if not same and name in CHANGES_RESULT:
                flag = FLAGS[name] if name in given else "lr"
                overrides.append(
                    f"{flag} {_show(name, new)} (the checkpoint's: {_show(name, old)})"
                )
        elif (name in REPORTED or (name in REPORTED_IF_SET and old != defaults[name])) and (
            _used(name, params)
        ):
            label = "seed" if name == "random_state" else name.replace("_", " ")
            kept.append(f"{label} {_show(name, old)}")
    return params, kept, overrides


def _used(name: str, params: dict[str, Any]) -> bool:
    """Whether the run uses setting ``name`` (a kept momentum means nothing to Adam, a
    kept validation fraction nothing without early stopping): only those are reported."""
    if name == "momentum":
        return not isinstance(params["optimizer"], str) or params["optimizer"] == "sgd"
    if name == "validation_fraction":
        return bool(params["early_stopping"])
    return True


def _leader() -> bool:
    """Whether this process is the one that speaks and writes: alone, or rank 0 of a job."""
    from gradlab.distributed import env_world

    job = env_world()
    return job is None or job.leader


def _rate(model: str, params: Mapping[str, Any]) -> float:
    """The base rate of ``params`` (filled in from the defaults)."""
    from gradlab.models._spec import base_rate

    return base_rate(model, {**DEFAULTS[model], **params})


def _can_keep_engine(engine: str, params: Mapping[str, Any], workers: int) -> bool:
    """Whether a resumed run whose engine is "auto" can go on with the checkpoint's
    ``engine``: torch where it is installed; numpy unless the run needs torch (a CUDA
    device asked for, float64, several workers), which "auto" then chooses, and says so."""
    if engine == "torch":
        return importlib.util.find_spec("torch") is not None
    return (
        params["device"] == "auto"
        and params["dtype"] == "float32"
        and workers == 1
        and not a_worker_of_several()
    )


#: Steps per epoch to lay out schedules with, to compare them (any count shows a change).
_SOME_STEPS = 100


def _rates_follow_epochs(model: str, params: Mapping[str, Any], before: int) -> bool:
    """Whether ``params``' schedule gives other rates over ``params["epochs"]`` than over
    ``before`` epochs: a cosine or a step schedule laid out over the run, onecycle; not
    an exponential, a warm-up, or a ``T_max`` or ``step_size`` given."""
    from gradlab.models._spec import resolve_schedule

    def built(epochs: int) -> Any:
        return resolve_schedule(model, {**params, "epochs": epochs}, _SOME_STEPS)[0].config()

    try:
        return bool(built(before) != built(int(params["epochs"])))
    except UsageError:  # a schedule that cannot be laid out over one of them differs
        return True


def _is_object(value: Any) -> bool:
    from gradlab.optim.schedules import Schedule

    return isinstance(value, Schedule)


def run_train(
    request: TrainRequest,
    *,
    progress: Sequence[Callback] = (),
    say: Callable[[str], None] = print,
) -> TrainResult:
    """Load the data, settle the hyperparameters, train with checkpoints, draw the outputs.

    Parameters
    ----------
    request : TrainRequest
    progress : sequence of Callback
        Live monitors (progress bars); the files are added here.
    say : callable
        Receives the notes a user should read (what a resume uses, nothing to train).

    Raises
    ------
    UsageError, DataError
        Bad hyperparameters; ``--resume`` without a checkpoint, or with one of another
        model or other data (refused before training, the file untouched).
    """
    from gradlab.models._network import PlainClassifier

    leader = _leader()
    params, data, path = settle_train(request, say=say if leader else _silent)
    model = PlainClassifier(request.model, **params)
    monitors = list(progress) if leader else []
    if leader and not request.resume and path.exists():
        monitors.insert(0, _RemovePictures(request.out))
    return _fit_and_draw(request, model, data, path, monitors, leader)


class _RemovePictures(Callback):
    """Remove the earlier run's pictures in ``out`` (see settle_train's note) once training
    starts: after the fit has checked its settings and built the network, so that a
    request refused there (a dtype the engine lacks, a network too large for memory)
    leaves the earlier run whole."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def on_train_begin(self, info: dict[str, Any]) -> None:
        for name in PICTURES:
            (self.out / name).unlink(missing_ok=True)


def refuse_unused(given: dict[str, Any], params: dict[str, Any]) -> None:
    """Refuse a setting the run would not use, rather than ignore it: ``given`` are the
    settings asked for, ``params`` the run's (the checkpoint's too, when resuming).

    Raises
    ------
    UsageError
        ``--validation-fraction`` without early stopping, ``--momentum`` with another
        optimizer than plain SGD.
    """
    if "validation_fraction" in given and not params["early_stopping"]:
        raise UsageError(
            "--validation-fraction is the part of the training data that early stopping "
            "holds back, and this run does not stop early.",
            hint="Add --early-stopping PATIENCE, or leave --validation-fraction out.",
        )
    optimizer = params["optimizer"]
    if "momentum" in given and isinstance(optimizer, str) and optimizer != "sgd":
        raise UsageError(
            f"--momentum is plain SGD's; --optimizer {optimizer} does not use it.",
            hint="Leave --momentum out (momentum and nesterov bring their own 0.9), or "
            "choose --optimizer sgd.",
        )


def settle_train(
    request: TrainRequest,
    *,
    say: Callable[[str], None] = print,
    workers: int = 1,
    leader: bool | None = None,
) -> tuple[dict[str, Any], Any, Path]:
    """Everything :func:`run_train` does before the fit: check the request, load the data,
    settle the hyperparameters (from the checkpoint when resuming).

    ``gradlab train --nproc N`` calls it before starting the workers (with ``workers``, the
    size of the job), so that a bad request is reported once, before any worker starts.
    Only the ``leader`` (default: this process alone, or rank 0 of a job) creates ``--out``.

    Returns
    -------
    params : dict
        Every constructor parameter of the model.
    data : ImageDataset
    path : Path
        The checkpoint file.
    """
    from gradlab import checkpoint as ckpt_file
    from gradlab.io import check_out_dir

    if request.model == "softmax" and "hidden" in request.given:
        raise UsageError("--hidden is for the MLP; softmax regression has no hidden layer.")
    path = request.out / CHECKPOINT
    if request.resume and not path.exists():
        raise UsageError(
            f"--resume: there is no checkpoint at {path}.",
            hint="Train without --resume first, or point --out at the folder of an earlier run.",
        )
    check_out_dir(request.out, create=_leader() if leader is None else leader)
    saved = ckpt_file.read(path, arrays=False) if request.resume else None
    if saved is not None:
        ckpt_file.check_compatible(
            saved,
            against=f"'gradlab train {request.model}'",
            kind=request.model,
            hint=f"Resume it with 'gradlab train {saved.kind} --resume', or choose another --out.",
        )
        given = dict(request.given)
        if "schedule" in given:  # compared with the checkpoint's as the flags make it
            given["schedule"] = with_schedule_flags(given["schedule"], request.schedule_flags)
        params, kept, overrides = resume_hyperparameters(
            request.model, saved.hyperparameters, given
        )
        if (
            "engine" not in request.given
            and params["engine"] == "auto"
            and _can_keep_engine(saved.engine, params, workers)
        ):
            # go on with the engine that "auto" chose for that run, whose optimizer state
            # and numbers carry on as they were, rather than let this run's circumstances
            # (a GPU seen now, say) choose again
            params["engine"] = saved.engine
        if request.schedule_flags and "schedule" not in given:
            before = params["schedule"]
            params["schedule"] = with_schedule_flags(before, request.schedule_flags)
            if params["schedule"] != before and "schedule" not in request.given:
                overrides.append(
                    f"schedule {describe_choice(params['schedule'])} (the checkpoint's: "
                    f"{describe_choice(before)})"
                )
        if (
            "epochs" in request.given
            and not _is_object(params["schedule"])
            and int(params["epochs"]) != int(saved.hyperparameters["epochs"])
            and _rates_follow_epochs(request.model, params, int(saved.hyperparameters["epochs"]))
        ):
            overrides.append(
                f"--epochs {params['epochs']} (the checkpoint's: "
                f"{saved.hyperparameters['epochs']}), over which the schedule "
                f"{describe_choice(params['schedule'])} is laid out"
            )
    else:
        params = {**DEFAULTS[request.model], **request.given}
        params["schedule"] = with_schedule_flags(params["schedule"], request.schedule_flags)
        kept, overrides = [], []
    # the command line says how many workers (--nproc, --nnodes, torchrun), never the
    # checkpoint: a model saved by fit(n_procs=2) resumes here in this process's job
    params["n_procs"] = 1
    refuse_unused(request.given, params)
    check_hyperparameters(request.model, params)
    if workers > 1:  # the numpy engine has no distributed version: say so now
        from gradlab.models._network import need_torch, resolve_engine

        try:
            resolve_engine(
                params["engine"], params["device"], workers=workers, dtype=params["dtype"]
            )
            need_torch()  # torch.distributed: before any worker starts
        except UsageError as exc:
            if saved is not None and "engine" not in request.given:  # the checkpoint's
                exc.hint = (
                    f"The checkpoint was trained with --engine {params['engine']}, which "
                    "--resume keeps; add --engine torch to go on with several workers (its "
                    "weights carry over)."
                )
            raise
    if params["random_state"] is None:
        data_seed = saved.seed if saved is not None else 0
    else:
        data_seed = int(params["random_state"])
    data = load_data(
        request.dataset,
        data_dir=request.data_dir,
        cache_dir=request.cache_dir,
        seed=data_seed,
        quiet=request.quiet,
    )
    if saved is None and path.exists():  # said once the request and the data are good
        say(
            f"replacing the earlier run in {request.out} ({_earlier_run(path)}): its "
            "pictures are removed when training starts, its model and history when this "
            "run saves its first epoch. Add --resume to continue a run instead, or give "
            "another --out to keep it."
        )
    if saved is not None:
        from gradlab.models._network import as_rows

        sizes = None
        if "hidden" in request.given:  # else the checkpoint's, which cannot disagree
            sizes = (math.prod(data.image_shape), *params["hidden"], len(data.classes))
        classes = data_classes(data)
        ckpt_file.check_compatible(
            saved,
            against=f"the {data.name} data set",
            input_shape=data.image_shape,
            sizes=sizes,
            classes=classes,
            # what fit will compare: the rows and class numbers it trains on
            data=ckpt_file.fingerprint(
                as_rows(data.X_train)[0], classes.encode(np.asarray(data.y_train))
            ),
            hint="Resume with the --dataset (and --hidden) it was trained on, or choose "
            "another --out."
            + (
                " Synthetic data is drawn from --seed: give the run's."
                if data.name == "synthetic"
                else ""
            ),
        )
        done, target = saved.epochs_done, int(params["epochs"])
        say(
            f"resuming {path} after epoch {done} with the checkpoint's "
            + ", ".join(kept)
            + f"; training to epoch {target}."
        )
        if overrides:
            say(
                "resuming with "
                + ", ".join(overrides)
                + "; the run will no longer match an uninterrupted one."
            )
        stopped = (saved.early_stopping or {}).get("stopped_epoch", 0)
        if stopped and params["early_stopping"]:
            say(
                f"{path} stopped early after epoch {stopped} (no improvement on the validation "
                "data): nothing to train. Resume with --early-stopping 0 to train on without it."
            )
        elif done >= target:
            say(
                f"{path} already holds {done} epoch(s), which is --epochs {target} or more: "
                "nothing to train. Raise --epochs to continue."
            )
    return params, data, path


def _fit_and_draw(
    request: TrainRequest,
    model: Any,
    data: Any,
    path: Path,
    progress: Sequence[Callback],
    leader: bool = True,
) -> TrainResult:
    from gradlab.jobs.predictions import model_label
    from gradlab.viz.monitor import CurvesPNG, HistoryFiles

    callbacks = [*progress, HistoryFiles(request.out / "history")]
    curves = CurvesPNG(
        request.out / "curves.png", model=lambda: model_label(model), dataset=data.name
    )
    if request.plots:
        callbacks.append(curves)
    before = saved_epochs(path) if request.resume else 0
    try:
        model.fit(
            data.X_train,
            data.y_train,
            eval_set=(data.X_test, data.y_test),
            class_names=data.classes,
            callbacks=callbacks,
            checkpoint=path,
            resume=request.resume,
        )
    except KeyboardInterrupt as exc:
        _history_as_saved(path, request.out / "history")
        return TrainResult(model, data, path, [], True, saved_epochs(path), interrupt=exc)
    if not leader:  # rank 0 writes and draws
        return TrainResult(model, data, path, [], False, len(model.history_))
    if request.resume and len(model.history_) <= before:
        # nothing trained, so no epoch wrote the history files: write them from the
        # checkpoint, which they may have fallen behind (or lost)
        _history_as_saved(path, request.out / "history")
    files = [path, request.out / "history.csv", request.out / "history.json"]
    if request.plots:
        from gradlab.jobs.predictions import draw_predictions

        if curves.written is not None:
            files.append(curves.written)
        try:
            files += draw_predictions(model, data, request.out, request.grid)
        except KeyboardInterrupt as exc:  # the training is saved: say so, as after fit
            return TrainResult(model, data, path, files, True, saved_epochs(path), interrupt=exc)
    return TrainResult(model, data, path, files, False, len(model.history_))


def _history_as_saved(checkpoint: Path, stem: Path) -> None:
    """Write ``history.csv`` and ``history.json`` from the checkpoint on disk: a stop between
    the epoch's checkpoint and its history files left them an epoch behind it."""
    from gradlab.checkpoint import read
    from gradlab.errors import GradlabError

    if not checkpoint.exists():
        return
    with contextlib.suppress(GradlabError, OSError):
        saved = read(checkpoint, arrays=False)
        if len(saved.history):
            saved.history.save(stem)


def _earlier_run(path: Path) -> str:
    """What the checkpoint at ``path`` holds, in a few words: "mlp, 5 epochs"."""
    from gradlab.checkpoint import read

    try:
        saved = read(path, arrays=False)
    except (DataError, OSError):
        return "a checkpoint gradlab cannot read"
    return f"{saved.kind}, {saved.epochs_done} epoch{'s' if saved.epochs_done != 1 else ''}"


def saved_epochs(path: Path) -> int:
    """How many epochs the checkpoint on disk holds (0 when there is none, or it is damaged)."""
    from gradlab.checkpoint import read

    try:
        return read(path, arrays=False).epochs_done
    except DataError:
        return 0
