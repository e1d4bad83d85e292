"""``gradlab train``: softmax regression or an MLP on digits, MNIST or Fashion-MNIST.

Parses the arguments, runs :func:`gradlab.jobs.train.run_train`, prints. The defaults
shown and used are the estimators' (:data:`gradlab.models._spec.DEFAULTS`); an option
left out is "not given", so that ``--resume`` can take the checkpoint's value instead.

Data parallelism (``docs/data-parallel.md``): ``--nproc N`` starts N workers on this
machine with PyTorch's launcher (:mod:`gradlab.distributed.launch`), ``--nnodes``,
``--node-rank`` and ``--rdzv-endpoint`` the same job over several machines; each worker
runs this command's training as one rank of the job, and only rank 0 prints and writes.
Under ``torchrun`` (``RANK`` and ``WORLD_SIZE`` set) every process is such a worker.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from gradlab.commands._args import (
    add_data_arguments,
    add_out,
    epoch_count,
    grid_size,
    learning_rate,
    non_negative_int,
    positive_float,
    positive_int,
    print_json,
)
from gradlab.commands._classifiers import PARAMS, estimator_flags, hidden_sizes
from gradlab.errors import DataError, UsageError
from gradlab.jobs.train import CHECKPOINT, PICTURES
from gradlab.models._spec import DEFAULTS, DTYPES, RATES
from gradlab.optim.rules import RULES
from gradlab.optim.schedules import SCHEDULES
from gradlab.params import MAX_GRID

#: Every file this command may write in --out (checked before the run starts).
OUTPUTS = (CHECKPOINT, "history.csv", "history.json", *PICTURES)
_MLP, _SOFTMAX = DEFAULTS["mlp"], DEFAULTS["softmax"]
#: option dest -> the key of :data:`gradlab.jobs.train.SCHEDULE_FLAGS`
_SCHEDULE_FLAGS = ("gamma", "step_size", "t_max", "warmup_steps")


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    v = positive_float(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return v


def _both(name: str, show: Any = str) -> str:
    if show(_SOFTMAX[name]) == show(_MLP[name]):
        return str(show(_MLP[name]))
    return f"{show(_SOFTMAX[name])} for softmax, {show(_MLP[name])} for the MLP"


def add_arguments(p: argparse.ArgumentParser) -> None:
    resumed = "; with --resume: the checkpoint's"
    p.add_argument("model", choices=("softmax", "mlp"), help="softmax regression or the MLP")
    add_data_arguments(p)
    engine = p.add_mutually_exclusive_group()
    engine.add_argument(
        "--engine",
        choices=("auto", "numpy", "torch"),
        help="numpy: hand-written forward/backward (fastest on a CPU); torch: torch.nn + "
        "torch.optim; auto: torch on a GPU, with several workers (--nproc, --nnodes) and for "
        f"--dtype float64, else numpy (default: {_MLP['engine']}{resumed})",
    )
    engine.add_argument(
        "--scratch",
        dest="engine",
        action="store_const",
        const="numpy",
        help="from scratch: own softmax, cross-entropy and SGD (the same as --engine numpy)",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help=f"for torch (default: {_MLP['device']}{resumed})",
    )
    p.add_argument(
        "--dtype",
        choices=DTYPES,
        help="precision of training; float64 needs the torch engine "
        f"(default: {_MLP['dtype']}{resumed})",
    )
    p.add_argument(
        "--epochs",
        type=epoch_count,
        help=f"train up to this epoch (default: {_MLP['epochs']}{resumed})",
    )
    p.add_argument(
        "--lr",
        type=learning_rate,
        metavar="LR",
        help="learning rate, or 'auto': the optimizer's usual rate for the model "
        f"(default: {_both('lr')}{resumed})",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"default: {_both('batch_size')}{resumed}",
    )
    p.add_argument(
        "--hidden",
        type=hidden_sizes,
        metavar="W[,W...]",
        help=f"MLP hidden widths (default: {','.join(str(h) for h in _MLP['hidden'])}{resumed})",
    )
    p.add_argument(
        "--momentum",
        type=float,
        help="SGD momentum in [0, 1), for --optimizer sgd only (default: "
        f"{_both('momentum', lambda v: f'{v:g}')}{resumed})",
    )
    rates = ", ".join(f"{name} {RATES['softmax'][name]:g}/{RATES['mlp'][name]:g}" for name in RULES)
    p.add_argument(
        "--optimizer",
        choices=RULES,
        help="the update rule: sgd (with --momentum), momentum and nesterov (SGD with "
        "momentum 0.9), adagrad, rmsprop, adam, adamw; without --lr each takes its rate "
        f"(softmax/MLP: {rates}) (default: sgd{resumed})",
    )
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="how the rate changes: constant; step, exponential, cosine (per epoch: "
        "x gamma every --step-size epochs, x gamma every epoch, half a cosine down to 0 over "
        f"--t-max epochs); warmup, onecycle (per step) (default: constant{resumed})",
    )
    p.add_argument(
        "--gamma",
        type=positive_float,
        help="the schedule's decay factor (default: 0.1 for step, 0.9 for exponential)",
    )
    p.add_argument(
        "--step-size",
        type=positive_int,
        metavar="EPOCHS",
        help="epochs between step decays (default: a third of --epochs, at least 1)",
    )
    p.add_argument(
        "--t-max",
        type=positive_int,
        metavar="EPOCHS",
        help="the cosine's length in epochs (default: --epochs)",
    )
    p.add_argument(
        "--warmup-steps",
        type=non_negative_int,
        metavar="N",
        help="a linear warm-up over the first N steps, before the schedule, whose epochs "
        "then count from the warm-up's end, as PyTorch's SequentialLR does (default: none; "
        "--schedule warmup alone: one epoch's steps, from a third of the rate)",
    )
    p.add_argument(
        "--early-stopping",
        type=non_negative_int,
        metavar="PATIENCE",
        help="hold back --validation-fraction of the training data; stop when its loss has "
        "not fallen for PATIENCE epochs and keep the best epoch's weights (0: off; "
        f"default: off{resumed})",
    )
    p.add_argument(
        "--validation-fraction",
        type=fraction,
        metavar="F",
        help=f"share of the training data held back for early stopping (default: "
        f"{_MLP['validation_fraction']:g}{resumed})",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        help=f"random seed (default: {_MLP['random_state']}{resumed})",
    )
    add_out(p, "runs/train", "the checkpoint, history and pictures")
    p.add_argument(
        "--resume",
        action="store_true",
        help=f"continue from DIR/{CHECKPOINT} up to --epochs, with its settings unless given",
    )
    p.add_argument(
        "--grid",
        type=grid_size,
        default=18,
        metavar="N",
        help=f"images in the prediction grid, at most {MAX_GRID} (0: none; default: 18)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--no-plots", action="store_true", help="no PNG files")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    add_parallel_arguments(p)


def add_parallel_arguments(p: argparse.ArgumentParser) -> None:
    """``--nproc``, ``--nnodes``, ``--node-rank``, ``--rdzv-endpoint``, ``--rdzv-timeout``."""
    from gradlab.distributed import DEFAULT_TIMEOUT

    g = p.add_argument_group(
        "data parallelism",
        "Train with several worker processes, each on a block of every batch, the gradients "
        "averaged by torch.distributed (gloo on CPUs, NCCL on GPUs): the result is that of "
        "one process with the same --batch-size. Implies --engine torch. Under torchrun "
        "(RANK and WORLD_SIZE set) leave these out: each process is then a worker.",
    )
    g.add_argument(
        "--nproc",
        type=positive_int,
        default=1,
        metavar="N",
        help="worker processes on this machine (default: 1); each takes its share of the cores",
    )
    g.add_argument(
        "--nnodes",
        type=positive_int,
        default=1,
        metavar="N",
        help="machines in the job, each running this command with its --node-rank (default: 1)",
    )
    g.add_argument(
        "--node-rank",
        type=non_negative_int,
        default=0,
        metavar="R",
        help="this machine, 0 .. N-1; node 0 hosts the rendezvous and writes the files "
        "(default: 0)",
    )
    g.add_argument(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="where the workers meet: an address of node 0 and a free port there, the same "
        "on every node (required with --nnodes > 1; default: 127.0.0.1 and a free port)",
    )
    g.add_argument(
        "--rdzv-timeout",
        type=positive_float,
        metavar="SECONDS",
        help="how long to wait for every worker and node to arrive (default: "
        f"{DEFAULT_TIMEOUT['one machine']:g} on one machine, "
        f"{DEFAULT_TIMEOUT['several machines']:g} with --nnodes > 1)",
    )


def _launches(args: argparse.Namespace) -> bool:
    """Whether this command starts workers (rather than training, or being a worker)."""
    return bool(args.nproc > 1 or args.nnodes > 1)


def locks_out(args: argparse.Namespace) -> bool:
    """Whether this process holds the --out folder for the run (see :func:`gradlab.cli._run`):
    the launcher on node 0 holds it for its rank-0 worker; under torchrun, rank 0 holds it,
    and the other workers write nothing there."""
    from gradlab.distributed import env_world

    job = env_world()
    if job is not None:
        return job.leader
    if _launches(args):
        return bool(args.node_rank == 0)
    return True


def run(args: argparse.Namespace) -> int:
    from gradlab.distributed import env_world

    job = env_world()
    if job is not None and _launches(args):
        raise UsageError(
            f"--nproc and --nnodes start workers, but this process already is worker rank "
            f"{job.rank} of {job.size} (RANK and WORLD_SIZE are set, as torchrun sets them).",
            hint="Under torchrun leave out --nproc, --nnodes, --node-rank and --rdzv-*: "
            "torchrun's own options say how many workers there are.",
        )
    if not _launches(args):
        given = [
            flag
            for flag, value in (
                ("--node-rank", args.node_rank or None),
                ("--rdzv-endpoint", args.rdzv_endpoint),
                ("--rdzv-timeout", args.rdzv_timeout),
            )
            if value is not None
        ]
        if given:
            raise UsageError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for a job of several "
                "workers; this one trains in one process.",
                hint="Add --nproc N (workers on this machine) or --nnodes N (machines).",
            )
        return _train(args)
    return _launch(args)


def _request(args: argparse.Namespace) -> Any:
    from gradlab.jobs.train import TrainRequest

    given = {
        param: getattr(args, dest)
        for dest, param in PARAMS.items()
        if getattr(args, dest) is not None
    }
    if args.early_stopping is not None:
        given["early_stopping"] = args.early_stopping > 0
        if args.early_stopping:
            given["n_iter_no_change"] = args.early_stopping
    return TrainRequest(
        model=args.model,
        dataset=args.dataset,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        out=args.out,
        given=given,
        resume=args.resume,
        grid=args.grid,
        plots=not args.no_plots,
        quiet=args.quiet,
        schedule_flags={
            k: getattr(args, k) for k in _SCHEDULE_FLAGS if getattr(args, k) is not None
        },
    )


def _say(message: str) -> None:
    print(f"gradlab train: {message}", file=sys.stderr)


def _launch(args: argparse.Namespace) -> int:
    """Start the workers (:func:`_worker` in each), wait, report the outcome."""
    from gradlab.distributed.launch import Launch
    from gradlab.distributed.launch import run as launch
    from gradlab.errors import WorkerError
    from gradlab.jobs.train import saved_epochs, settle_train

    spec = Launch(args.nproc, args.nnodes, args.node_rank, args.rdzv_endpoint, args.rdzv_timeout)
    spec.check()
    request = _request(args)
    # a bad request is reported here, once, before any worker starts (and a data set is
    # downloaded once, not by every worker)
    _, _, path = settle_train(
        request, say=lambda message: None, workers=spec.world_size, leader=args.node_rank == 0
    )
    try:
        status = launch(spec, _worker, args)
    except KeyboardInterrupt as exc:
        if args.node_rank == 0:
            _interrupted(exc, saved_epochs(path), path)
        raise
    except WorkerError as exc:
        done = saved_epochs(path) if args.node_rank == 0 else 0
        if done and f"is saved in {path}" not in f"{exc.message}\n{exc.hint}":  # once
            kept = f"Epoch {done} is saved in {path}; continue with the same command and --resume."
            exc.hint = f"{exc.hint}\n{kept}" if exc.hint else kept
        raise
    return 0 if status is None else int(status)


def _worker(args: argparse.Namespace) -> int:
    """One worker of ``gradlab train --nproc N``: train as the rank the launcher gave."""
    return _train(args)


def _interrupted(stop: KeyboardInterrupt, done: int, path: Any) -> None:
    """Say what stopped the run and what it saved (the CLI then says nothing more of it);
    quietly where stderr is gone (a closed terminal)."""
    from gradlab.errors import stop_reason

    where = f"epoch {done} is saved in {path}" if done else "no epoch was saved"
    stop.said = True  # type: ignore[attr-defined]
    with contextlib.suppress(OSError, ValueError):
        print(f"gradlab train: {stop_reason(stop)}; {where}.", file=sys.stderr)
        if done:
            print("Continue with the same command and --resume.", file=sys.stderr)


def _train(args: argparse.Namespace) -> int:
    """Train in this process: alone, or as a worker of a job (only rank 0 prints)."""
    from gradlab.distributed import env_world
    from gradlab.jobs.train import run_train
    from gradlab.viz.monitor import monitors

    job = env_world()
    leader = job is None or job.leader
    progress = monitors(quiet=args.quiet, json=args.json) if leader else []
    try:
        result = run_train(_request(args), progress=progress, say=_say)
    except (UsageError, DataError) as exc:  # an estimator's parameter, named by its flag
        raise estimator_flags(exc, args.model) from None
    if result.interrupted:
        from gradlab.distributed import ENV_LAUNCHER

        stop = result.interrupt or KeyboardInterrupt()
        if leader and ENV_LAUNCHER not in os.environ:  # else the launcher reports it
            _interrupted(stop, result.saved_epochs, result.checkpoint)
        # the CLI turns it into the exit status (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), and with
        # --json reports what is saved
        stop.details = {  # type: ignore[attr-defined]
            "saved_epochs": result.saved_epochs,
            "checkpoint": str(result.checkpoint) if result.saved_epochs else None,
        }
        raise stop
    if not leader:
        return 0
    model, data = result.model, result.data
    trained = int(model.history_.last()["epoch"])
    kept = _kept_epoch(model)  # the epoch whose weights the model holds, and its numbers
    at = list(model.history_["epoch"]).index(kept)
    row = {name: values[at] for name, values in model.history_.columns.items()}
    summary = {
        "model": args.model,
        "dataset": data.name,
        "engine": model.engine_,
        "world_size": model.world_size_,
        "epochs": trained,
        "kept_epoch": kept,
        "train_loss": row["train_loss"],
        "train_accuracy": row["train_accuracy"],
        "test_loss": row["test_loss"],
        "test_accuracy": row["test_accuracy"],
        "seconds": float(sum(model.history_["seconds"])),
        "lr": model.lr_,
        "optimizer": model.optimizer_.config(),
        "schedule": model.schedule_.config(),
        "early_stopping": _early(model),
        "files": [str(f) for f in result.files],
    }
    if args.json:
        print_json(summary)
    else:
        epochs = f"{trained} epoch{'' if trained == 1 else 's'}"
        if kept != trained:  # early stopping went back to its best epoch
            epochs += f", the model of epoch {kept}:"
        workers = f", {model.world_size_} workers" if model.world_size_ > 1 else ""
        print(
            f"{args.model} on {data.name} ({model.engine_} engine{workers}): after {epochs} "
            f"train loss {summary['train_loss']:.4f}, train acc "
            f"{summary['train_accuracy']:.4f}, test acc {summary['test_accuracy']:.4f} "
            f"({summary['seconds']:.2f} s training)"
        )
        print(training_line(model))
        print("Files: " + ", ".join(str(f) for f in result.files))
    return 0


def _kept_epoch(model: Any) -> int:
    """The epoch whose weights ``model`` holds: early stopping's best (it restores them),
    else the last."""
    best = int(getattr(model, "best_epoch_", 0) or 0) if model.early_stopping else 0
    return best or int(model.history_.last()["epoch"])


def _early(model: Any) -> dict[str, Any] | None:
    if not model.early_stopping:
        return None
    history = model.history_
    best = getattr(model, "best_epoch_", 0)
    return {
        "patience": model.n_iter_no_change,
        "validation_fraction": model.validation_fraction,
        "best_epoch": best,
        "stopped_epoch": getattr(model, "stopped_epoch_", 0),
        "best_val_loss": history["val_loss"][best - 1] if best else None,
        "best_val_accuracy": history["val_accuracy"][best - 1] if best else None,
    }


def training_line(model: Any) -> str:
    """``Optimizer: adam, lr 0.001; schedule: cosine(T_max=10, eta_min=0)``, and what early
    stopping did."""
    from gradlab.jobs.train import describe_choice

    rule = model.optimizer_.config()
    name = rule["name"]
    if rule.get("momentum"):
        nesterov = ", Nesterov" if rule.get("nesterov") else ""
        name += f" (momentum {rule['momentum']:g}{nesterov})"
    # the rate is said once: a schedule's own lr (or max_lr) is the same number
    schedule = {k: v for k, v in model.schedule_.config().items() if k not in ("lr", "max_lr")}
    text = f"Optimizer: {name}, lr {model.lr_:g}; schedule: {describe_choice(schedule)}"
    early = _early(model)
    if early is not None:
        stopped = early["stopped_epoch"]
        when = f"stopped after epoch {stopped}" if stopped else "ran to the last epoch"
        text += (
            f"; early stopping {when}, keeping epoch {early['best_epoch']} "
            f"(validation loss {early['best_val_loss']:.4f})"
            if early["best_epoch"]
            else f"; early stopping {when}"
        )
    return text
