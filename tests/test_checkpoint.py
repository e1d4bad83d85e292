"""Checkpoints: one schema check, one compatibility check, and no crafted file can crash us."""

from __future__ import annotations

import copy
import json
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from gradlab import checkpoint
from gradlab.cli import main
from gradlab.errors import DataError, ExitStatus, OutOfMemoryError, ResourceError
from gradlab.models import MLPClassifier, SoftmaxRegression, load_classifier
from gradlab.models._labels import Classes


def blobs(n: int = 120, d: int = 64, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(n) % k
    return (rng.normal(size=(n, d)) + np.eye(k, d)[y] * 3).astype(np.float32), y


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A softmax checkpoint of the digits' shape (8x8 images, classes 0-9), as the CLI writes."""
    out = tmp_path_factory.mktemp("good")
    assert (
        main(["train", "softmax", "--epochs", "2", "--out", str(out), "--quiet", "--no-plots"]) == 0
    )
    return out / "model.safetensors"


def parts(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any], str]:
    from safetensors import safe_open

    with safe_open(str(path), "numpy") as f:
        header = f.metadata()
        arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    return arrays, json.loads(header["meta"]), header["format"]


def craft(
    good: Path, out: Path, change: Callable[[dict[str, np.ndarray], dict[str, Any]], None]
) -> Path:
    arrays, meta, fmt = parts(good)
    arrays = {k: v.copy() for k, v in arrays.items()}
    meta = copy.deepcopy(meta)
    change(arrays, meta)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.safetensors"
    save_file(arrays, str(path), metadata={"format": fmt, "meta": json.dumps(meta)})
    return path


def setitem(where: str, key: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def change(arrays: dict[str, Any], meta: dict[str, Any]) -> None:
        target = arrays if where == "arrays" else meta
        if where.startswith("meta."):
            target = meta[where[5:]]
        if value is DELETE:
            del target[key]
        else:
            target[key] = value(target[key]) if callable(value) else value

    return change


DELETE = object()

VARIANTS = [
    (
        "a tensor whose shape disagrees with the sizes",
        setitem("arrays", "W1", lambda w: w[:10]),
        "tensor W1 has shape (10, 10), but the layer sizes (64, 10) need (64, 10).",
    ),
    ("a missing tensor", setitem("arrays", "b1", DELETE), "no tensor b1."),
    (
        "an extra tensor",
        setitem("arrays", "extra", np.zeros(3, np.float32)),
        "unexpected tensor(s) extra.",
    ),
    (
        "NaN weights",
        setitem(
            "arrays",
            "W1",
            lambda w: np.where(np.arange(w.size).reshape(w.shape) == 5, np.nan, w).astype(
                np.float32
            ),
        ),
        "tensor W1 has 1 NaN or infinite value(s).",
    ),
    (
        "a float64 tensor",
        setitem("arrays", "W1", lambda w: w.astype(np.float64)),
        "tensor W1 has dtype F64; it must be float32 (F32), the model's dtype.",
    ),
    (
        "history of the wrong type",
        setitem("meta", "history", [1, 2]),
        "history is [1, 2]; it must be a JSON object of per-epoch columns.",
    ),
    (
        "a history column of the wrong type",
        setitem("meta.history", "epoch", "x"),
        "history.epoch is 'x'; it must be a list of numbers.",
    ),
    (
        "a random_state that is not a seed",
        setitem("meta.hyperparameters", "random_state", -1),
        "hyperparameters.random_state is -1; it must be an integer >= 0 or None.",
    ),
    (
        "history epochs out of order",
        setitem("meta.history", "epoch", [2, 1]),
        "history.epoch is [2.0, 1.0]; it must be the epochs 1, 2, ..., n in order.",
    ),
    (
        "hyperparameters of the wrong type",
        setitem("meta", "hyperparameters", "x"),
        "hyperparameters is 'x'; it must be a JSON object of the model's parameters.",
    ),
    (
        "an lr that is a string",
        setitem("meta.hyperparameters", "lr", "0.1"),
        "hyperparameters.lr is '0.1'; it must be a number > 0 or 'auto'.",
    ),
    (
        "a momentum of null",
        setitem("meta.hyperparameters", "momentum", None),
        "hyperparameters.momentum is None; it must be a number in [0, 1).",
    ),
    (
        "a missing hyperparameter",
        setitem("meta.hyperparameters", "batch_size", DELETE),
        "no hyperparameters.batch_size in its metadata.",
    ),
    (
        "an unknown hyperparameter",
        setitem("meta.hyperparameters", "hidden", [5]),
        "hyperparameters.hidden is not a parameter of SoftmaxRegression.",
    ),
    (
        "sizes as a string",
        setitem("meta", "sizes", "64,10"),
        "sizes is '64,10'; it must be a list of two or more layer widths, each >= 1.",
    ),
    (
        "classes as a number",
        setitem("meta", "classes", 3),
        "classes is 3; it must be a list of class names (strings).",
    ),
    (
        "an input shape that disagrees with the sizes",
        setitem("meta", "input_shape", [9, 9]),
        "input_shape (9, 9) holds 81 values per sample, but the first layer takes 64",
    ),
    (
        "an input scale that is a string",
        setitem("meta", "input_scale", "a"),
        "input_scale is 'a'; it must be a finite number > 0.",
    ),
    (
        "label values that repeat",
        setitem("meta.labels", "values", [0] * 10),
        "labels.values is [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]; it must be distinct values in sorted",
    ),
    (
        "label values of another kind than declared",
        setitem("meta.labels", "values", [str(i) for i in range(10)]),
        "labels.values is ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']; it must be a list "
        "of int64 label values.",
    ),
    (
        "a label value beyond int64",
        setitem("meta.labels", "values", [*range(9), 2**70]),
        "labels.values is [0, 1, 2, 3, 4, 5, 6, 7, 8, 1180591620717411303424]; it must be a "
        "list of int64 label values.",
    ),
    ("a negative seed", setitem("meta", "seed", -1), "seed is -1; it must be an integer >= 0."),
    (
        "an unknown model kind",
        setitem("meta", "kind", "cnn"),
        "kind is 'cnn'; it must be one of softmax, mlp.",
    ),
    (
        "momentum buffers with plain SGD",
        lambda arrays, meta: arrays.update(
            {"optim/momentum_buffer/W1": np.zeros((64, 10), np.float32)}
        ),
        "unexpected tensor(s) optim/momentum_buffer/W1.",
    ),
    (
        "a missing field",
        setitem("meta", "input_scale", DELETE),
        "damaged gradlab checkpoint (no input_scale in its metadata).",
    ),
    (
        "a history lr of NaN",
        setitem("meta.history", "lr", [float("nan"), 0.1]),
        "history.lr is [nan, 0.1]; it must be rates: finite numbers > 0.",
    ),
    (
        "early stopping whose best epoch is none of those trained",
        setitem("meta", "early_stopping", {"best_epoch": 0, "stopped_epoch": 0}),
        '{"best_epoch": 1 to 2, "stopped_epoch": 0 (not stopped) to 2}.',
    ),
    (
        "a data fingerprint of no samples",
        setitem("meta.data", "samples", 0),
        'it must be {"samples": n > 0, "sha256": 64 hex digits}.',
    ),
    (
        "an input range below zero",
        setitem("meta", "input_numbers", {"max": -1, "uint8": False}),
        """input_numbers is {'max': -1, 'uint8': False}; it must be {"max": a finite number >= 0, \
"uint8": true or false}, only with input_scale 1.""",
    ),
    (
        "a data fingerprint whose digest is not hex",
        setitem("meta.data", "sha256", "z" * 64),
        'it must be {"samples": n > 0, "sha256": 64 hex digits}.',
    ),
]
IDS = [v[0] for v in VARIANTS]


@pytest.mark.parametrize(("what", "change", "message"), VARIANTS, ids=IDS)
def test_the_schema_check_names_the_file_and_the_field(
    good: Path, tmp_path: Path, what: str, change: Any, message: str
) -> None:
    path = craft(good, tmp_path, change)
    with pytest.raises(DataError) as err:
        checkpoint.read(path)
    assert str(path) in err.value.message
    assert message in err.value.message
    if "NaN" not in what:  # the header alone shows every other defect
        with pytest.raises(DataError, match="damaged gradlab checkpoint"):
            checkpoint.read(path, arrays=False)


@pytest.mark.parametrize(("what", "change", "message"), VARIANTS, ids=IDS)
def test_crafted_checkpoints_give_a_clear_error_in_predict_and_resume(
    good: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
    change: Any,
    message: str,
) -> None:
    path = craft(good, tmp_path / "run", change)
    before = path.read_bytes()
    for argv in (
        ["predict", "--checkpoint", str(path), "--out", str(tmp_path / "p"), "--n", "0"],
        ["train", "softmax", "--out", str(path.parent), "--resume", "--epochs", "4", "--quiet",
         "--no-plots"],
    ):  # fmt: skip
        code = main(argv)
        err = capsys.readouterr().err
        assert code == ExitStatus.USAGE, (argv[0], err)
        assert message in err, (argv[0], err)
        assert str(path) in err
        assert "Traceback" not in err
    assert path.read_bytes() == before  # a refused resume leaves the file alone


def test_a_format_1_checkpoint_still_loads_and_resumes(tmp_path: Path) -> None:
    X, y = blobs(d=6, k=3)
    new = MLPClassifier(hidden=(4,), epochs=1, momentum=0.9, cpu_threads=1).fit(X, y)
    v1 = {
        "gradlab": "0.1.0", "model": "MLPClassifier", "kind": "mlp", "sizes": [6, 4, 3],
        "input_shape": [6], "input_scale": 1.0, "classes": ["a", "b", "c"],
        "hyperparameters": {"hidden": [4], "lr": 0.05, "epochs": 1, "batch_size": 200,
                            "momentum": 0.9, "init": "kaiming", "seed": 0},
        "history": new.history_.columns,
    }  # fmt: skip
    # format 1 kept the buffers in gradient units (the NumPy engine keeps lr * buffer)
    state = new._train_state.optimizer
    assert state.units == "step"
    velocity = {
        f"v{k.split('/')[1]}": v / np.float32(0.05)
        for k, v in state.arrays.items()
        if k.startswith("momentum_buffer/")
    }
    path = tmp_path / "old.safetensors"
    save_file(
        {**new.params_, **velocity},
        str(path),
        metadata={"format": "gradlab-checkpoint-1", "meta": json.dumps(v1)},
    )
    old = MLPClassifier.load(path)
    np.testing.assert_array_equal(old.classes_, [0, 1, 2])
    assert old.class_names_ == ("a", "b", "c")
    assert old.random_state == 0
    np.testing.assert_array_equal(old.predict(X), new.predict(X))
    resumed = MLPClassifier(hidden=(4,), epochs=2, momentum=0.9, cpu_threads=1)
    resumed.fit(X, y, checkpoint=path, resume=True)
    assert resumed.history_["epoch"] == [1.0, 2.0]


def test_checkpoint_metadata_reads_without_the_arrays(tmp_path: Path) -> None:
    X, y = blobs(d=6, k=3)
    ck = tmp_path / "m.safetensors"
    SoftmaxRegression(epochs=2).fit(X, y, class_names=["a", "b", "c"], checkpoint=ck)
    meta = checkpoint.load_meta(ck)
    assert meta == checkpoint.load(ck)[1]
    assert meta["history"]["epoch"] == [1.0, 2.0]
    assert meta["classes"] == ["a", "b", "c"]
    assert meta["labels"] == {"kind": "int", "values": [0, 1, 2]}
    assert checkpoint.read(ck, arrays=False).weights == {}


def _a_checkpoint(tmp_path: Path) -> Path:
    X, y = blobs(d=6, k=3)
    ck = tmp_path / "run" / "model.safetensors"
    ck.parent.mkdir()
    SoftmaxRegression(epochs=1).fit(X, y, checkpoint=ck)
    return ck


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (
            "cut in the tensors",
            r"ends at byte [\d,]+, where its header promises [\d,]+: the file "
            "was cut short",
        ),
        ("cut in the header", r"ends at byte 40, inside its header: the file was cut short"),
        ("a CSV", r"does not start as a safetensors file does: it is another kind of file"),
    ],
)
def test_a_file_safetensors_cannot_read_is_said_to_be_cut_short_or_another_kind(
    tmp_path: Path, damage: str, said: str
) -> None:
    """The library's own words ("incomplete metadata, file not fully covered", "header too
    large") said neither that a checkpoint was truncated nor that a CSV was no checkpoint."""
    ck = _a_checkpoint(tmp_path)
    data = ck.read_bytes()
    if damage == "cut in the tensors":
        ck.write_bytes(data[:-10])
    elif damage == "cut in the header":
        ck.write_bytes(data[:40])
    else:
        ck.write_text("x,y\n1,2\n3,4\n" * 10)
    with pytest.raises(
        DataError, match=f"{re.escape(str(ck))}: not a readable safetensors file \\(it {said}\\)"
    ):
        checkpoint.read(ck)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "it has only 0 bytes"),
        (b"\x08\x00\x00", "it has only 3 bytes"),
        # text with a '{' at byte 8 claims a header of about 7.5e18 bytes
        (b"abcdefgh{not json at all}", "it does not start as a safetensors file does"),
        # a header nested deeper than Python's JSON reader goes raised RecursionError
        (
            struct.pack("<Q", 200_000) + b'{"a":' + b"[" * 100_000,
            "it ends at byte",
        ),
        (
            struct.pack("<Q", 100_005) + b'{"a":' + b"[" * 100_000,
            "safetensors",
        ),
    ],
    ids=["empty", "3 bytes", "text", "deep, cut short", "deep"],
)
def test_what_is_wrong_with_an_unreadable_file_is_said_without_a_crash(
    tmp_path: Path, content: bytes, said: str
) -> None:
    ck = tmp_path / "model.safetensors"
    ck.write_bytes(content)
    with pytest.raises(DataError, match="not a readable safetensors file") as caught:
        checkpoint.read(ck)
    assert said in caught.value.message


def test_a_run_folder_given_as_the_checkpoint_points_at_the_file_inside(tmp_path: Path) -> None:
    ck = _a_checkpoint(tmp_path)
    with pytest.raises(DataError, match="is a folder, not a checkpoint file") as caught:
        checkpoint.read(ck.parent)
    assert caught.value.hint == f"Give the checkpoint inside it: {ck}."
    ck.unlink()
    with pytest.raises(DataError) as caught:
        checkpoint.read(ck.parent)
    assert caught.value.hint == (
        "Give the checkpoint file itself (model.safetensors in a run's --out folder)."
    )


def test_missing_garbage_and_foreign_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.safetensors: no such checkpoint file") as none:
        checkpoint.read(tmp_path / "nope.safetensors")
    assert isinstance(none.value, FileNotFoundError)
    assert none.value.filename == str(tmp_path / "nope.safetensors")
    # the hint serves the command line and Python alike
    assert none.value.hint == "Train first: gradlab train, or fit(..., checkpoint=PATH) in Python."
    garbage = tmp_path / "bad.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match="not a readable safetensors file") as caught:
        checkpoint.read(garbage)
    assert "it does not start as a safetensors file does" in caught.value.message
    assert caught.value.hint == (
        "Use another checkpoint file, or train afresh: a damaged checkpoint cannot be "
        "resumed (drop --resume on the command line, resume=True in Python)."
    )
    foreign = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, str(foreign))
    with pytest.raises(DataError, match="a safetensors file, but not a gradlab checkpoint") as c:
        checkpoint.read(foreign)
    assert c.value.hint == (
        "Point to a file that gradlab saved (model.safetensors in a run's --out folder, or "
        "what a model's save() wrote)."
    )


def test_labels_of_every_kind_round_trip(tmp_path: Path) -> None:
    X, k = blobs(d=6, k=3)
    for labels in (np.array([-1, 1, 7]), np.array(["x", "y", "z"]), np.array([0.5, 1.5, 2.5])):
        if labels.dtype.kind == "f":
            labels = np.array([1.0, 2.0, 3.0])
        m = SoftmaxRegression(epochs=1).fit(X, labels[k])
        back = load_classifier(m.save(tmp_path / "m.safetensors"))
        np.testing.assert_array_equal(back.classes_, m.classes_)
        np.testing.assert_array_equal(back.predict(X), m.predict(X))
    m = SoftmaxRegression(epochs=1).fit(X[:2], [True, False])
    assert load_classifier(m.save(tmp_path / "b.safetensors")).classes_.dtype == bool


# ------------------------------------------------------------------ compatibility


def test_one_compatibility_check_lists_every_mismatch(good: Path) -> None:
    ckpt = checkpoint.read(good)
    other = Classes(np.arange(2), ("a", "b"))
    with pytest.raises(DataError) as err:
        checkpoint.check_compatible(
            ckpt, against="that", kind="mlp", sizes=(4, 2), input_shape=(2, 2), classes=other
        )
    assert err.value.message == (
        f"{good} does not match that: it holds a SoftmaxRegression, not an MLPClassifier; "
        "layers (64, 10) in the checkpoint, (4, 2) in that; samples of shape (8, 8) in the "
        "checkpoint, (2, 2) in that; classes 0, 1, 2, ... (10 classes) in the checkpoint, "
        "0 'a', 1 'b' (2 classes) in that."
    )
    checkpoint.check_compatible(ckpt, against="x", kind="softmax", sizes=(64, 10))


def test_resuming_with_other_layer_sizes_or_classes_is_refused(tmp_path: Path) -> None:
    X, y = blobs(d=16, k=3)
    ck = tmp_path / "m.safetensors"
    MLPClassifier(hidden=(8,), epochs=1).fit(X, y, checkpoint=ck)
    with pytest.raises(
        DataError, match=r"layers \(16, 8, 3\) in the checkpoint, \(16, 9, 3\) in this"
    ):
        MLPClassifier(hidden=(9,), epochs=2).fit(X, y, checkpoint=ck, resume=True)
    with pytest.raises(DataError, match=r"classes 0, 1, 2 \(3 classes\) in the checkpoint"):
        MLPClassifier(hidden=(8,), epochs=2).fit(
            X, y, class_names=["x", "y", "z"], checkpoint=ck, resume=True
        )


def test_resuming_on_inputs_of_another_scale_or_shape_is_refused(tmp_path: Path) -> None:
    """Floats where uint8 pixels were trained on would be read 255 times brighter (the loss
    jumped from 2.3 to 500); the shape is the model's input_shape_."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (60, 4, 4), dtype=np.uint8)
    y = rng.integers(0, 2, 60)
    ck = tmp_path / "m.safetensors"
    MLPClassifier(hidden=(8,), epochs=1).fit(pixels, y, checkpoint=ck)
    with pytest.raises(DataError) as info:
        MLPClassifier(hidden=(8,), epochs=2).fit(pixels / 1.0, y, checkpoint=ck, resume=True)
    assert info.value.message == (
        f"{ck} does not match this MLPClassifier and its data: inputs scaled by 1/255 (uint8 "
        "pixels) in the checkpoint, by 1 (numbers as given) in this MLPClassifier and its data."
    )
    with pytest.raises(DataError, match=r"samples of shape \(4, 4\) in the checkpoint, \(2, 8\)"):
        MLPClassifier(hidden=(8,), epochs=2).fit(
            pixels.reshape(60, 2, 8), y, checkpoint=ck, resume=True
        )
    MLPClassifier(hidden=(8,), epochs=2).fit(pixels, y, checkpoint=ck, resume=True)


def test_cli_resume_of_the_other_model_is_refused(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = craft(good, tmp_path, lambda a, m: None)
    code = main(["train", "mlp", "--out", str(tmp_path), "--resume", "--quiet", "--no-plots"])
    err = capsys.readouterr().err
    assert code == ExitStatus.USAGE
    assert (
        f"{path} does not match 'gradlab train mlp': it holds a SoftmaxRegression, not an "
        "MLPClassifier."
    ) in err
    assert "Resume it with 'gradlab train softmax --resume'" in err


# ------------------------------------------------------------------ running out of memory


def test_running_out_of_memory_keeps_the_last_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradlab.engines.numpy_mlp import NumpyMLP

    real = NumpyMLP.train_step
    steps = []

    def step(self: NumpyMLP, *args: Any) -> Any:
        steps.append(1)
        if len(steps) == 13:  # 6 steps an epoch on the digits at batch 256: epoch 3
            raise MemoryError
        return real(self, *args)

    monkeypatch.setattr(NumpyMLP, "train_step", step)
    code = main(["train", "softmax", "--out", str(tmp_path), "--quiet", "--no-plots"])
    err = capsys.readouterr().err
    assert code == ExitStatus.RESOURCE == 5
    assert (
        "SoftmaxRegression ran out of memory in epoch 3 (layers (64, 10), batch 256); epoch 2 "
        f"is saved in {tmp_path / 'model.safetensors'}."
    ) in err
    assert "then continue with --resume." in err
    assert checkpoint.load_meta(tmp_path / "model.safetensors")["history"]["epoch"] == [1.0, 2.0]


def test_a_cuda_out_of_memory_error_is_reported_the_same_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch = pytest.importorskip("torch")
    from gradlab.engines.torch_mlp import TorchMLP

    def step(self: TorchMLP, *args: Any) -> Any:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(TorchMLP, "train_step", step)
    X, y = blobs(d=6, k=3)
    with pytest.raises(
        OutOfMemoryError, match=r"ran out of memory in epoch 1 \(layers \(6, 3\), batch 256\)\.\n"
    ):
        SoftmaxRegression(engine="torch", device="cpu").fit(X, y)


def test_text_labels_and_numbers_read_differently_when_they_do_not_match(tmp_path: Path) -> None:
    """Classes '0', '1' (text) against 0, 1 (numbers) must not read the same on both sides."""
    from gradlab.models import SoftmaxRegression

    X = np.zeros((4, 3), np.float32)
    ckpt = tmp_path / "m.safetensors"
    SoftmaxRegression(epochs=1).fit(X, ["0", "1", "0", "1"], checkpoint=ckpt)
    with pytest.raises(DataError) as info:
        SoftmaxRegression(epochs=2).fit(X, [0, 1, 0, 1], checkpoint=ckpt, resume=True)
    assert info.value.message == (
        "y holds labels of dtype int64, but the classes are '0', '1' (dtype <U1)."
    )
    with pytest.raises(DataError) as info:  # the labels, not their kind, differ
        SoftmaxRegression(epochs=2).fit(X, ["0", "2", "0", "2"], checkpoint=ckpt, resume=True)
    assert info.value.message == "y[1] is '2', which is not one of the 2 classes: '0', '1'."


@pytest.mark.parametrize("labels", [["cat", "dog"], [-3, 7], [1.0, 2.0], [False, True]])
def test_a_loaded_model_gives_labels_of_the_dtype_fit_gave(
    tmp_path: Path, labels: list[object]
) -> None:
    X = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = np.array(labels * 4)
    ckpt = tmp_path / "m.safetensors"
    fitted = SoftmaxRegression(epochs=1).fit(X, y, checkpoint=ckpt)
    loaded = load_classifier(ckpt)
    assert loaded.classes_.dtype == fitted.classes_.dtype
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    assert loaded.predict(X).dtype == fitted.predict(X).dtype


def test_resume_refuses_other_data_of_the_same_shapes_and_classes(tmp_path: Path) -> None:
    X, y = blobs()
    ckpt = tmp_path / "m.safetensors"
    SoftmaxRegression(epochs=1, random_state=0).fit(X, y, checkpoint=ckpt)
    before = ckpt.read_bytes()
    more = SoftmaxRegression(epochs=2, random_state=0)
    with pytest.raises(DataError) as info:
        more.fit(X[:100], y[:100], checkpoint=ckpt, resume=True)
    assert info.value.message == (
        f"{ckpt} does not match the data given: it was trained on 120 samples, the data "
        "given has 100."
    )
    with pytest.raises(DataError) as info:
        more.fit(X + 1, y, checkpoint=ckpt, resume=True)
    assert info.value.message.startswith(
        f"{ckpt} does not match the data given: it was trained on other data (120 samples, "
        "as in the data given, but of other values: SHA-256 "
    )
    assert "Resume with the data it was trained on" in str(info.value.hint)
    with pytest.raises(DataError, match="other values"):  # the labels count too
        more.fit(X, np.roll(y, 1), checkpoint=ckpt, resume=True)
    assert ckpt.read_bytes() == before
    more.fit(X, y, checkpoint=ckpt, resume=True)  # the same data resumes
    assert len(more.history_) == 2


def test_a_fresh_fit_saves_the_fingerprint_it_hashed_while_training(tmp_path: Path) -> None:
    X, y = blobs()
    ckpt = tmp_path / "m.safetensors"
    fitted = SoftmaxRegression(epochs=2, random_state=0).fit(X, y, checkpoint=ckpt)
    rows = np.ascontiguousarray(X, np.float32)
    labels = fitted.classes_.searchsorted(y).astype(np.int64)
    assert checkpoint.read(ckpt).data == checkpoint.fingerprint(rows, labels)


def test_a_pending_fingerprint_raises_its_threads_error_on_the_callers_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fails(rows: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        raise MemoryError("no room to hash")

    monkeypatch.setattr(checkpoint, "fingerprint", fails)
    pending = checkpoint.PendingFingerprint(np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(MemoryError, match="no room to hash"):
        pending.result()


def test_a_pending_fingerprint_whose_thread_never_ran_hashes_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As in a process forked after the thread started: the thread is not there."""
    import threading

    monkeypatch.setattr(threading.Thread, "start", lambda self: None)
    monkeypatch.setattr(threading.Thread, "join", lambda self, timeout=None: None)
    rows, y = np.arange(6, dtype=np.float32).reshape(3, 2), np.array([0, 1, 0])
    pending = checkpoint.PendingFingerprint(rows, y)
    assert pending.result() == checkpoint.fingerprint(rows, y)


def test_a_checkpoint_without_a_data_fingerprint_still_resumes(tmp_path: Path) -> None:
    """Files written before the fingerprint was kept (or by save) resume on any data of
    the right shapes, as before."""
    X, y = blobs()
    ckpt = tmp_path / "m.safetensors"
    SoftmaxRegression(epochs=1, random_state=0).fit(X, y, checkpoint=ckpt)
    old = craft(ckpt, tmp_path / "old", setitem("meta", "data", DELETE))
    assert checkpoint.read(old).data is None
    more = SoftmaxRegression(epochs=2, random_state=0).fit(X + 1, y, checkpoint=old, resume=True)
    assert len(more.history_) == 2


def _count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The descriptors gradlab.io flushes, in order (the flushes still happen)."""
    import os

    import gradlab.io

    flushed: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        flushed.append(fd)
        real(fd)

    monkeypatch.setattr(gradlab.io.os, "fsync", fsync)
    # however slow the machine: no second flush falls due while the test trains
    monkeypatch.setattr(gradlab.io, "SYNC_EVERY", 1e9)
    return flushed


def test_a_short_epoch_does_not_wait_for_the_disk_but_the_last_one_is_flushed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each epoch's checkpoint waited for the disk (file and folder), which cost more than
    a small job's epochs: 10 epochs on the digits took 0.88 s with the flushes and 0.65 s
    without. The first epoch's file still waits (a new name must not outlive its data),
    the ones after it are left to the system, and the last is flushed at the end."""
    flushed = _count_fsyncs(monkeypatch)
    X, y = blobs()
    path = tmp_path / "model.safetensors"
    SoftmaxRegression(epochs=10, random_state=0).fit(X, y, checkpoint=path)
    # the first epoch's write (file, folder) and the flush at the end (file, folder)
    assert len(flushed) == 4
    assert checkpoint.read(path).epochs_done == 10


def test_a_stopped_fit_flushes_the_last_checkpoint_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradlab.train import Callback

    class StopAtThree(Callback):
        def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
            if epoch == 3:
                raise KeyboardInterrupt

    flushed = _count_fsyncs(monkeypatch)
    X, y = blobs()
    path = tmp_path / "model.safetensors"
    with pytest.raises(KeyboardInterrupt):
        SoftmaxRegression(epochs=10, random_state=0).fit(
            X, y, checkpoint=path, callbacks=[StopAtThree()]
        )
    assert len(flushed) == 4  # epoch 1's write, then the flush of epoch 3's on the way out
    assert checkpoint.read(path).epochs_done == 3


def test_train_flushes_its_files_after_the_first_epoch_and_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The checkpoint and both history files: 6 flushes per epoch before (60 for the
    10 epochs), now 6 for the first epoch's writes and 6 at the end."""
    flushed = _count_fsyncs(monkeypatch)
    code = main(["train", "softmax", "--epochs", "10", "--no-plots", "--quiet", "--out",
                 str(tmp_path)])  # fmt: skip
    assert code == 0
    assert len(flushed) == 12
    assert (tmp_path / "history.csv").read_text().splitlines()[-1].startswith("10,")


def test_tensors_larger_than_the_free_memory_are_refused_before_they_are_read(
    good: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "available_memory", lambda: 1000)
    with pytest.raises(ResourceError) as err:
        checkpoint.read(good)
    assert err.value.message == (
        f"{good}: its tensors take 2.6e-06 GB, more than the 1e-06 GB of memory free to read them."
    )
    assert err.value.hint == "Free some memory, or load the checkpoint on a larger machine."
    assert err.value.exit_status == ExitStatus.RESOURCE
    checkpoint.read(good, arrays=False)  # the header alone is read without the check


def test_a_sparse_file_claiming_more_than_the_free_memory_is_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a header may claim any sizes: a sparse file of gigabytes costs nothing on disk
    size = 4 * 64 * 2_000_000
    header = json.dumps(
        {"W1": {"dtype": "F32", "shape": [64, 2_000_000], "data_offsets": [0, size]}}
    ).encode()
    path = tmp_path / "sparse.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + size)
    if path.stat().st_blocks * 512 >= size:
        pytest.skip("this file system does not keep sparse files")
    monkeypatch.setattr(checkpoint, "available_memory", lambda: 1000)
    with pytest.raises(DataError) as err:
        checkpoint.read(path)
    assert err.value.message.startswith(
        f"{path}: its tensors take 0.512 GB, more than the 1e-06 GB of memory free to read "
        "them, and only "
    )
    assert err.value.message.endswith("GB of them are on disk: the file is damaged.")


def test_a_history_longer_than_any_run_is_refused_before_its_rows_are_read(
    good: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "MAX_EPOCHS", 1)
    with pytest.raises(DataError) as err:
        checkpoint.read(good, arrays=False)
    assert err.value.message.endswith(
        "history.epoch has 2 rows, more than the 1 epochs a run may have: a run writes one "
        "row per epoch."
    )


def test_a_model_resumed_with_fewer_epochs_than_it_had_saves_and_loads(tmp_path: Path) -> None:
    X, y = blobs(d=6, k=3)
    ck = tmp_path / "ck.safetensors"
    SoftmaxRegression(epochs=3).fit(X, y, checkpoint=ck)
    model = SoftmaxRegression(epochs=2).fit(X, y, checkpoint=ck, resume=True)
    assert len(model.history_) == 3  # nothing left to train: the history is kept whole
    again = load_classifier(model.save(tmp_path / "again.safetensors"))
    assert len(again.history_) == 3


def test_a_panic_inside_safetensors_is_reported_as_an_unreadable_file(
    good: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors

    class PanicException(BaseException):  # pyo3's, which is not an Exception
        pass

    def panics(*args: Any, **kwargs: Any) -> Any:
        raise PanicException("PyObject pointer is null")

    monkeypatch.setattr(safetensors, "safe_open", panics)
    with pytest.raises(DataError, match="not a readable safetensors file"):
        checkpoint.read(good)


def test_a_checkpoint_without_read_permission_is_said_to_be_unreadable_not_missing(
    good: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as root every file is readable: the refusal a user without permission gets
    def refused(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(checkpoint, "open", refused, raising=False)
    with pytest.raises(DataError) as err:
        checkpoint.read(good)
    assert err.value.message == f"{good}: cannot be read (Permission denied)."
    assert err.value.hint == (
        "Give your user read permission on it (chmod u+r), or copy it somewhere you can read."
    )


def test_control_characters_in_a_checkpoint_reach_the_terminal_escaped(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "\x1b[2J\x1b]0;pwned\x07W9"
    path = craft(good, tmp_path / "run", setitem("arrays", name, np.zeros(1, np.float32)))
    code = main(["predict", "--checkpoint", str(path), "--out", str(tmp_path / "p"), "--n", "0"])
    err = capsys.readouterr().err
    assert code == ExitStatus.USAGE
    assert "unexpected tensor(s) \\x1b[2J\\x1b]0;pwned\\x07W9." in err
    assert "\x1b" not in err
    assert "\x07" not in err
