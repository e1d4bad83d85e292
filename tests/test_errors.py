"""Every user-facing error path not covered elsewhere, with the message it gives."""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest

from gradlab import checkpoint
from gradlab.cli import main
from gradlab.data.points import check_magnitude, load_csv
from gradlab.errors import (
    DataError,
    ExitStatus,
    MissingDependencyError,
    MissingFileError,
    UsageError,
    install_command,
)
from gradlab.io import PART_SUFFIX, atomic_path
from gradlab.jobs.compare import load_problem
from gradlab.models import (
    LinearRegression,
    LogisticRegression,
    MLPClassifier,
    PolynomialRegression,
)

# ------------------------------------------------------------------ regression inputs


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        ([["a"], ["b"]], [1.0, 2.0], "X must be numbers"),
        ([[{"a": 1}], [2.0]], [1.0, 2.0], r"X must be numbers: X\[0, 0\] is \{'a': 1\} \(float"),
        ([[1j], [2.0]], [1.0, 2.0], "Complex data not supported: X has dtype complex128"),
        (np.zeros((2, 2, 2)), [1.0, 2.0], r"X must have shape \(n_samples, n_features\)"),
        (np.zeros(2), [1.0, 2.0], r"X must be 2-D, .* Reshape your data"),
        (np.zeros((0, 1)), [], "X has no rows"),
        (np.zeros((2, 0)), [1.0, 2.0], r"X has 0 feature\(s\) \(shape=\(2, 0\)\)"),
        ([[1.0], [2.0]], ["a", "b"], "y must be numbers"),
        ([[1.0], [2.0]], np.zeros((2, 2)), r"y must have shape \(n_samples,\)"),
        ([[1.0], [2.0]], [1.0, np.inf], r"y\[1\] is inf; values must be finite"),
        ([[1.0], [2.0]], [1.0, np.nan], r"y\[1\] is NaN; values must be finite"),
        ([[1.0], [2.0]], None, "requires y to be passed, but the target y is None"),
    ],
)
def test_regression_input_errors_are_named(X: Any, y: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        LinearRegression().fit(X, y)


def test_predict_with_another_number_of_features_is_named() -> None:
    m = LinearRegression(epochs=2).fit([[1.0, 2.0], [2.0, 1.0]], [1.0, 2.0])
    with pytest.raises(
        DataError, match="X has 1 features, but LinearRegression is expecting 2 features as input"
    ):
        m.predict([[1.0]])


def test_sparse_input_says_to_densify() -> None:
    from scipy import sparse

    with pytest.raises(DataError, match=r"X is a scipy sparse matrix.*Pass X\.toarray\(\)"):
        LinearRegression().fit(sparse.csr_matrix(np.eye(2)), [1.0, 2.0])


def test_renamed_dataframe_columns_are_named() -> None:
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"x": [1.0, 2.0, 3.0], "z": [0.0, 1.0, 0.0]})
    m = LinearRegression(epochs=2).fit(X, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(m.feature_names_in_, ["x", "z"])
    with pytest.raises(DataError, match="Feature names unseen at fit time:\n- q"):
        m.predict(X.rename(columns={"z": "q"}))


def test_non_finite_intercept_init_is_refused() -> None:
    with pytest.raises(UsageError, match="intercept_init must be a finite number, got nan"):
        LinearRegression().fit([[1.0], [2.0]], [1.0, 2.0], intercept_init=float("nan"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"powers": (0,)},
            r"PolynomialRegression: powers must be a non-empty sequence of integers in "
            r"\[1, 1000\] or None; got \(0,\)\.",
        ),
        ({"powers": (2, 5000)}, r"powers must be .* in \[1, 1000\] or None; got \(2, 5000\)"),
        ({"degree": 0}, r"PolynomialRegression: degree must be an integer in \[1, 1000\]; got 0"),
        # refused before its powers are listed (a billion of them filled the memory)
        ({"degree": 10**9}, r"degree must be an integer in \[1, 1000\]; got 1000000000"),
    ],
)
def test_polynomial_parameters_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        PolynomialRegression(**kwargs).fit([[1.0], [2.0]], [1.0, 2.0])


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (
            [0, 1, 2],
            r"Only binary classification is supported\. The type of the target is multiclass: "
            r"y holds 3 classes \(0, 1, 2\); LogisticRegression takes two\. For three or more "
            r"classes use gradlab\.models\.SoftmaxRegression\.",
        ),
        ([1, 1, 1], r"y holds one class \(1\); LogisticRegression needs two classes"),
        (
            [0.5, 1.7, 2.25],
            r"(?s)Unknown label type: continuous\. y\[0\] is 0\.5, but LogisticRegression "
            r"needs labels of two classes.*use LinearRegression",
        ),
        # two real values are still a continuous target, as for scikit-learn's classifiers
        ([2.5, 7.0, 2.5], r"Unknown label type: continuous\. y\[0\] is 2\.5"),
        ([0.0, 1.0, np.nan], r"y\[2\] is NaN; labels must be finite"),
    ],
)
def test_logistic_labels_that_are_not_two_classes_are_named(y: list[Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        LogisticRegression(epochs=2).fit([[0.0], [1.0], [2.0]], y)


def test_logistic_loss_of_labels_not_seen_in_fit_is_named() -> None:
    m = LogisticRegression(epochs=2).fit([[0.0], [1.0]], ["no", "yes"])
    with pytest.raises(DataError, match=r"y\[1\] is 'maybe', which is not one of the classes"):
        m.loss_value([[0.0], [1.0]], ["no", "maybe"])


def test_negative_random_state_is_refused() -> None:
    with pytest.raises(
        UsageError,
        match="LinearRegression: random_state must be an integer >= 0, None, or a numpy "
        "RandomState or Generator; got -1",
    ):
        LinearRegression(random_state=-1).fit([[1.0], [2.0]], [1.0, 2.0])


@pytest.mark.parametrize(
    ("engine", "options", "message"),
    [
        ("numpy", {"dtype": "float32"}, "unknown engine option.*'dtype' for the numpy engine"),
        ("torch", {"colour": 1}, "it takes: device, dtype, style"),
        ("torch", {"dtype": "float16"}, "unknown dtype 'float16'; choose one of: float64, float32"),
        ("torch", {"device": "tpu"}, "unknown device 'tpu'; choose one of: auto, cpu, cuda"),
        pytest.param(
            "tensorflow",
            {"dtype": "int8"},
            "unknown dtype 'int8'; choose one of: float64, float32",
            marks=pytest.mark.tensorflow,
        ),
    ],
)
def test_bad_engine_options_are_named(engine: str, options: dict[str, Any], message: str) -> None:
    if engine != "numpy" and "it takes" not in message:  # refused before the framework loads
        pytest.importorskip(engine)
    m = LinearRegression(engine=engine, engine_options=options)
    with pytest.raises(UsageError, match=message):
        m.fit([[1.0], [2.0]], [1.0, 2.0])


def test_missing_torch_names_the_install_command(hide_packages: Callable[..., None]) -> None:

    hide_packages("torch")
    with pytest.raises(MissingDependencyError, match="PyTorch is not installed"):
        LinearRegression(engine="torch").fit([[1.0], [2.0]], [1.0, 2.0])
    with pytest.raises(MissingDependencyError, match=r"pip install 'gradlab\[torch\]'"):
        MLPClassifier(engine="torch").fit(np.zeros((4, 3)), [0, 1, 0, 1])


def test_the_install_command_names_the_checkouts_constraints_by_their_full_path() -> None:
    """ "-c constraints.txt" worked only from the checkout's root folder."""
    import gradlab

    root = Path(gradlab.__file__).resolve().parents[2]
    if not (root / "constraints.txt").is_file():
        pytest.skip("gradlab runs from an installed wheel here, not a checkout")
    assert install_command("torch") == (
        f"pip install 'gradlab[torch]' -c {shlex.quote(str(root / 'constraints.txt'))} "
        "--extra-index-url https://download.pytorch.org/whl/cpu"
    )
    assert install_command("tensorflow") == (
        f"pip install 'gradlab[tensorflow]' -c {shlex.quote(str(root / 'constraints.txt'))}"
    )


def test_installed_from_a_wheel_the_install_command_takes_torchs_cpu_wheels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without constraints an unpinned torch brings gigabytes of CUDA packages on Linux."""
    import gradlab.errors

    site = tmp_path / "lib" / "python3.11" / "site-packages" / "gradlab"
    monkeypatch.setattr(gradlab.errors, "__file__", str(site / "errors.py"))
    assert install_command("torch") == (
        "pip install 'gradlab[torch]' --extra-index-url https://download.pytorch.org/whl/cpu"
    )
    assert install_command("tensorflow") == "pip install 'gradlab[tensorflow]'"


def test_train_with_several_workers_and_no_torch_says_to_install_it(
    capsys: pytest.CaptureFixture[str],
    hide_packages: Callable[..., None],
    tmp_path: Path,
) -> None:
    """It crashed with a traceback from the launcher's import of torch.distributed."""

    hide_packages("torch")
    code, out, err = cli(capsys, "train", "mlp", "--nproc", "2", "--epochs", "1", "--out",
                         str(tmp_path), "--no-plots", "--json")  # fmt: skip
    assert code == ExitStatus.USAGE
    assert err.startswith("gradlab train: error: PyTorch is not installed, and this needs it.\n")
    assert json.loads(out)["error"]["kind"] == "missing-dependency"
    assert not (tmp_path / "model.safetensors").exists()


def test_unknown_comparison_problem_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match="unknown problem 'iris'; choose one of: quadratic"):
        load_problem("iris")


# ------------------------------------------------------------------ classifier inputs


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.zeros(5), [0] * 5, "X must have one row .* per sample"),
        (np.zeros((0, 4)), [], "X has no samples"),
        (np.array([["a", "b"]]), [0], "X must be numbers"),
        (np.zeros((2, 3)), np.zeros((2, 2)), "y must be one label per sample"),
        (np.zeros((2, 3)), [0.5, 1.0], r"Unknown label type: continuous. y\[0\] is 0.5"),
    ],
)
def test_classifier_input_errors_are_named(X: Any, y: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        MLPClassifier(hidden=(2,), epochs=1).fit(X, y)


@pytest.fixture(scope="module")
def fitted_on_numbers() -> MLPClassifier:
    X = np.random.default_rng(0).normal(size=(6, 2))
    return MLPClassifier(hidden=(2,), epochs=1).fit(X, [0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize(
    ("y", "weights", "message"),
    [
        (["0", "1", "2"] * 2, None, r"y holds labels of dtype <U1, but the classes are 0, 1, 2"),
        ([0, 1, 2] * 2, [np.nan, 1, 1, 1, 1, 1], r"sample_weight\[0\] is NaN; weights must be"),
        ([0, 1, 2] * 2, [1, 1, -2, 1, 1, 1], r"sample_weight\[2\] is -2.0; weights must be"),
        ([0, 1, 2] * 2, np.zeros(6), "sample_weight is 0 for every sample; give some a weight"),
        ([0, 1, 2] * 2, np.ones(3), r"sample_weight has shape \(3,\), but there are 6 samples"),
        ([0, 1, 2] * 2, ["a"] * 6, "sample_weight must be numbers, got dtype <U1"),
    ],
)
def test_score_refuses_labels_of_another_kind_and_bad_weights(
    fitted_on_numbers: MLPClassifier, y: Any, weights: Any, message: str
) -> None:
    """Text labels against number classes would score 0.0 without a word; bad weights
    gave NaN or NumPy's own errors."""
    X = np.zeros((6, 2))
    with pytest.raises(DataError, match=message):
        fitted_on_numbers.score(X, y, sample_weight=weights)


def test_score_takes_one_number_as_every_samples_weight(fitted_on_numbers: MLPClassifier) -> None:
    X = np.random.default_rng(1).normal(size=(6, 2))
    y = [0, 1, 2, 0, 1, 2]
    assert fitted_on_numbers.score(X, y, sample_weight=3.0) == fitted_on_numbers.score(X, y)
    weights = np.array([1.0, 0, 0, 0, 0, 0])
    hit = float(fitted_on_numbers.predict(X[:1])[0] == 0)
    assert fitted_on_numbers.score(X, y, sample_weight=weights) == hit


def test_test_images_of_another_size_are_named() -> None:
    with pytest.raises(DataError, match="X_test has 5 values per sample, X 4; they must match"):
        MLPClassifier(epochs=1).fit(
            np.zeros((3, 4)), [0, 1, 0], eval_set=(np.zeros((2, 5)), [0, 1])
        )


def test_resume_without_a_checkpoint_path_is_refused() -> None:
    with pytest.raises(UsageError, match="resume needs the checkpoint to resume from"):
        MLPClassifier(epochs=1).fit(np.zeros((3, 4)), [0, 1, 0], resume=True)


def test_classifier_predict_before_fit_and_wrong_width() -> None:
    with pytest.raises(UsageError, match="not fitted yet; call fit first"):
        MLPClassifier().predict(np.zeros((1, 4)))
    m = MLPClassifier(hidden=(2,), epochs=1).fit(np.zeros((4, 4)), [0, 1, 0, 1])
    with pytest.raises(
        DataError, match="X has 3 features, but MLPClassifier is expecting 4 features as input"
    ):
        m.predict(np.zeros((1, 3)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"device": "tpu"},
            "MLPClassifier: device must be one of 'auto', 'cpu', 'cuda'; got 'tpu'.",
        ),
        (
            {"random_state": -3},
            "MLPClassifier: random_state must be an integer >= 0, None, or a numpy RandomState or "
            "Generator; got -3.",
        ),
        (
            {"cpu_threads": 0},
            "MLPClassifier: cpu_threads must be 'auto', an integer in [1, 1024], or None; got 0.",
        ),
        (  # threadpoolctl's C int overflowed (a ctypes traceback)
            {"cpu_threads": 2**64},
            "MLPClassifier: cpu_threads must be 'auto', an integer in [1, 1024], or None; got "
            "18446744073709551616.",
        ),
    ],
)
def test_classifier_parameters_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        MLPClassifier(**kwargs).fit(np.zeros((2, 3)), [0, 1])


def test_damaged_checkpoint_metadata_is_named(tmp_path: Path) -> None:
    p = checkpoint.save(tmp_path / "c.safetensors", {"W1": np.zeros((2, 2), np.float32)}, {})
    with pytest.raises(DataError, match=r"damaged gradlab checkpoint .*no sizes"):
        checkpoint.load(p)


# ------------------------------------------------------------------ files and the CLI


def test_csv_with_an_oversized_field_is_a_clean_error(tmp_path: Path) -> None:
    p = tmp_path / "big.csv"
    p.write_text("1,2\n" + "3," + "9" * 200_000 + "\n")
    with pytest.raises(DataError, match=r"big\.csv, line 2: not valid CSV"):
        load_csv(p)


def test_csv_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    p = tmp_path / "q.csv"
    p.write_text('1,2\n"3\n",4\n5,x\n')
    with pytest.raises(DataError, match="line 4, column 2: 'x' is not a number"):
        load_csv(p)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder_is_a_usage_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(UsageError, match=r"cannot write .*locked"), atomic_path(locked / "x.png"):
        pass


def refuse_part_files(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """Make creating atomic_path's temporary files fail with ``code``, as a folder we may
    not write into does (for root too, who may write anywhere)."""
    real_open = os.open

    def fake_open(path: Any, flags: int, mode: int = 0o777) -> int:
        if str(path).endswith(PART_SUFFIX):
            raise PermissionError(code, os.strerror(code))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", fake_open)


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM], ids=["EACCES", "EPERM"])
def test_a_write_refused_by_permissions_is_a_usage_error_even_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    refuse_part_files(monkeypatch, code)
    target = tmp_path / "x.png"
    with pytest.raises(UsageError) as caught, atomic_path(target):
        pass
    assert str(caught.value) == (
        f"cannot write {target}: {os.strerror(code)}.\n"
        "Choose a folder you can write to (--out DIR)."
    )
    assert caught.value.exit_status == ExitStatus.USAGE == 2
    assert list(tmp_path.iterdir()) == []


def test_cli_output_refused_by_permissions_exits_2_even_as_root(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_part_files(monkeypatch, errno.EACCES)
    code, _, err = cli(capsys, "descend", "x**2", "--out", str(tmp_path))
    assert code == ExitStatus.USAGE == 2
    assert (
        f"cannot write {tmp_path / 'descent.png'}: Permission denied.\n"
        "Choose a folder you can write to (--out DIR)."
    ) in err
    assert "Traceback" not in err


def test_output_under_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(UsageError, match="cannot write"), atomic_path(tmp_path / "afile" / "x"):
        pass


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    from gradlab.io import write_text

    mode = write_text(tmp_path / "r.html", "x").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_negative_seed_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "linreg", "--seed", "-1")
    assert code == ExitStatus.USAGE
    assert "must be 0 or more, got '-1'" in err


def test_cli_unwritable_out_exits_2_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "sub"
    code, _, err = cli(capsys, "descend", "x**2", "--out", str(out))
    assert code == ExitStatus.USAGE
    assert f"--out {out} is inside {tmp_path / 'afile'}, which is a file, not a folder." in err
    assert "Traceback" not in err


def test_cli_out_that_is_a_file_is_refused_before_any_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("keep")
    code, _, err = cli(capsys, "train", "softmax", "--out", str(tmp_path / "afile"))
    assert code == ExitStatus.USAGE
    assert f"--out {tmp_path / 'afile'} is a file, not a folder." in err
    assert "training on" not in err  # refused before the data was loaded
    assert (tmp_path / "afile").read_text() == "keep"


def test_cli_data_dir_with_digits_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = cli(capsys, "train", "softmax", "--data-dir", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert "--data-dir and --cache-dir are for mnist and fashion-mnist; digits is built in" in err


def test_cli_predict_on_other_classes_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from gradlab.models import SoftmaxRegression

    m = SoftmaxRegression(epochs=1).fit(np.zeros((4, 8, 8), np.uint8), ["a", "b", "a", "b"])
    m.save(tmp_path / "m.safetensors")
    code, _, err = cli(capsys, "predict", "--checkpoint", str(tmp_path / "m.safetensors"))
    assert code == ExitStatus.USAGE
    assert (
        "does not match the digits data set: classes 'a', 'b' (2 classes) in the checkpoint, "
        "0, 1, 2, ... (10 classes) in the digits data set."
    ) in err


def test_json_output_has_no_nan(capsys: pytest.CaptureFixture[str]) -> None:
    from gradlab.commands._args import print_json

    print_json({"a": float("nan"), "b": [1.0, float("inf")], "c": np.float64(2.5)})
    assert json.loads(capsys.readouterr().out) == {"a": None, "b": [1.0, None], "c": 2.5}


def test_cli_softmax_with_hidden_layers_is_refused_even_at_the_mlp_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = cli(capsys, "train", "softmax", "--hidden", "200,200")
    assert code == ExitStatus.USAGE
    assert "--hidden is for the MLP" in err


def test_bench_without_torch_names_the_install_command(
    capsys: pytest.CaptureFixture[str],
    hide_packages: Callable[..., None],
) -> None:

    hide_packages("torch")
    code, _, err = cli(capsys, "bench", "--quick")
    assert code == ExitStatus.USAGE
    assert "PyTorch is not installed" in err


def _checkpoint_with_meta(path: Path, meta: str | None) -> Path:
    from safetensors.numpy import save_file

    header = {"format": next(iter(checkpoint.FORMATS))}
    if meta is not None:
        header["meta"] = meta
    save_file({"W1": np.zeros((2, 2), np.float32)}, str(path), metadata=header)
    return path


@pytest.mark.parametrize(
    ("meta", "said"),
    [
        (None, "no meta in its metadata"),
        ("{not json", "its meta is not readable JSON"),
        ("[" * 100_000 + "]" * 100_000, "its meta is not readable JSON"),  # RecursionError
    ],
    ids=["missing", "not-json", "nested-too-deep"],
)
def test_a_checkpoint_whose_meta_cannot_be_read_is_named(
    tmp_path: Path, meta: str | None, said: str
) -> None:
    p = _checkpoint_with_meta(tmp_path / "c.safetensors", meta)
    with pytest.raises(DataError, match=re.escape(f"{p}: damaged gradlab checkpoint ({said}).")):
        checkpoint.load(p)


def test_a_folder_or_a_pipe_given_as_a_checkpoint_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "x.safetensors"
    folder.mkdir()
    with pytest.raises(DataError, match=re.escape(f"{folder}: is a folder, not a checkpoint")):
        checkpoint.load(folder)
    pipe = tmp_path / "p.safetensors"
    os.mkfifo(pipe)
    with pytest.raises(DataError, match=re.escape(f"{pipe}: is not a regular file; a checkpoint")):
        checkpoint.load(pipe)


def test_csv_values_whose_squares_overflow_are_named_before_any_fit(tmp_path: Path) -> None:
    p = tmp_path / "big.csv"
    p.write_text("1e200,2\n2e200,4\n3e200,5\n")
    with pytest.raises(DataError) as info:
        check_magnitude(load_csv(p))
    assert info.value.message == (
        f"{p}: column 1 holds 3e+200, too large for least squares: the sum of the squares of "
        "3 such values overflows float64 (keep every value within 3.87e+153)."
    )
    p.write_text("1e150,2\n2e150,4\n3e150,5\n")  # squares summed stay finite: accepted
    assert check_magnitude(load_csv(p)).X.max() == 3e150


def test_compare_by_default_takes_the_installed_engines_and_names_the_others(
    capsys: pytest.CaptureFixture[str],
    hide_packages: Callable[..., None],
) -> None:
    """A plain `gradlab compare` failed on a core install, after the NumPy fit had run."""
    hide_packages("torch", "tensorflow")
    code, out, err = cli(capsys, "compare", "--no-plots", "--epochs", "5", "--json")
    assert code == 0
    assert err.startswith(
        "gradlab compare: PyTorch and TensorFlow are not installed: comparing numpy (add them "
        f"with: {install_command('torch')}; {install_command('tensorflow')})\n"
    )
    assert [row["engine"] for row in json.loads(out)["rows"]] == ["numpy"]


def test_compare_refuses_a_named_engine_that_is_not_installed_before_any_fit(
    capsys: pytest.CaptureFixture[str],
    hide_packages: Callable[..., None],
) -> None:
    hide_packages("tensorflow")
    code, _, err = cli(capsys, "compare", "--no-plots", "--engines", "numpy,tensorflow")
    assert code == ExitStatus.USAGE
    assert err == (
        "gradlab compare: error: TensorFlow is not installed, and this needs it.\n"
        f"Install it with: {install_command('tensorflow')}\n"
    )


def test_every_gradlab_warning_can_be_silenced_by_its_one_base_class(tmp_path: Path) -> None:
    """gradlab's warnings were plain UserWarnings, pointed at the caller's module: no filter
    could tell them from others."""
    import warnings

    from gradlab.errors import GradlabWarning

    csv = tmp_path / "same-x.csv"
    csv.write_text("1,2\n1,3\n1,4\n")
    from gradlab.jobs.linreg import _warn_if_constant

    points = load_csv(csv)
    with pytest.warns(GradlabWarning, match="every x is 1"):
        _warn_if_constant(points)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=GradlabWarning)
        _warn_if_constant(points)  # silenced, not raised


@pytest.mark.parametrize("model", [LinearRegression, LogisticRegression])
def test_x_too_large_for_its_sums_of_squares_is_named_before_any_fit(model: Any) -> None:
    """|x| above about 1e154 made the curvature inf: numpy's LinAlgError ("Eigenvalues did
    not converge") or "SGD: lr must be a number >= 0; got nan" escaped."""
    X = [[1.0], [2.0], [1e200]]
    with pytest.raises(DataError) as info:
        model(epochs=3).fit(X, [0, 1, 0])
    assert info.value.message == (
        "X[2, 0] is 1e+200, too large: the sum of the squares of 3 such values, which the fit "
        "needs (the loss's curvature, the closed form), overflows float64 (keep every value "
        "within 3.87e+153)."
    )
    assert info.value.hint is not None
    assert info.value.hint.startswith("Rescale that column")


def test_a_missing_file_error_survives_pickling_copying_and_a_workers_carry() -> None:
    """Its constructor differs from OSError's: pickle, copy and the data-parallel launcher's
    rebuild raised TypeError (a traceback for a worker's missing file)."""
    import copy
    import pickle

    from gradlab.distributed.launch import _CarriedError

    error = MissingFileError("x.csv: no such file.", hint="Check the path.", path="/d/x.csv")
    for again in (
        pickle.loads(pickle.dumps(error)),
        copy.copy(error),
        pickle.loads(pickle.dumps(_CarriedError(error))).rebuild(),
    ):
        assert type(again) is MissingFileError
        assert (again.message, again.hint) == ("x.csv: no such file.", "Check the path.")
        assert (again.errno, again.filename) == (errno.ENOENT, "/d/x.csv")
    # rebuilt with another message, as a command adds its flag's name
    assert type(error)("--csv: x.csv: no such file.", hint="h").filename is None


def test_a_power_too_large_for_float64_names_the_entry_and_its_power() -> None:
    """It said "the features of X[1, 178]": a column the user never made."""
    X = np.array([[0.5], [40.0], [2.0]])
    with pytest.raises(DataError) as info:
        PolynomialRegression(degree=1000, epochs=3).fit(X, [0.0, 1.0, 0.0])
    # the lowest power past the limit (3.87e153 for 3 rows), not the first inf
    assert info.value.message.startswith("X[1, 0]**96 is 6.2771e+153, too large:")
    assert info.value.hint == (
        "Powers of values far from 1 outgrow float64: scale X into [-1, 1] first (sklearn."
        "preprocessing.MaxAbsScaler), or lower the degree."
    )


def test_polynomial_features_larger_than_the_memory_are_refused_before_they_are_made() -> None:
    X = np.full((1000, 2), 0.5)
    with (
        mock.patch("gradlab.models.linear.available_memory", return_value=10**6),
        pytest.raises(UsageError) as info,
    ):
        PolynomialRegression(degree=100, epochs=1).fit(X, X[:, 0])
    assert info.value.message == (
        "degree=100 makes 200 features of 1,000 rows: computing them takes about 0.0032 GB, "
        "more than the 0.001 GB of memory available."
    )
    assert info.value.hint is not None
    assert "Ask for fewer powers" in info.value.hint


def test_a_divergence_whose_advice_cannot_be_computed_is_still_reported() -> None:
    """The hint's stable rate came from an eigenvalue solver that could raise; its error
    replaced the DivergenceError."""
    from gradlab.optim import DivergenceGuard

    def broken() -> float:
        raise np.linalg.LinAlgError("Eigenvalues did not converge")

    assert DivergenceGuard(0.5, stable_lr=broken).suggestion() == (
        "Try a smaller learning rate, e.g. 0.05."
    )


def test_the_linear_models_score_checks_its_input_as_fit_does() -> None:
    """score came from scikit-learn's mixins: InvalidParameterError for y=None, "Mix of
    label input types" for text labels, "inconsistent numbers of samples" for weights."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    yr = X @ [1.0, 2.0, 3.0]
    yb = (yr > 0).astype(int)
    lin = LinearRegression(epochs=50).fit(X, yr)
    log = LogisticRegression(epochs=50).fit(X, yb)
    cases = [
        (lambda: lin.score(X, None), "LinearRegression.score needs the targets y."),
        (
            lambda: lin.score(X, yr, sample_weight=np.ones(3)),
            "sample_weight has shape (3,), but there are 40 samples; give one weight per sample.",
        ),
        (lambda: log.score(X, None), "LogisticRegression.score needs the labels y."),
        (
            lambda: log.score(X, yb.astype(str)),
            "y holds labels of dtype <U21, but the classes are 0, 1 (dtype int64).",
        ),
    ]
    for call, message in cases:
        with pytest.raises(DataError) as info:
            call()
        assert info.value.message == message
    from sklearn.metrics import r2_score

    assert lin.score(X, yr) == r2_score(yr, lin.predict(X))  # still scikit-learn's R²
    assert log.score(X, yb, sample_weight=np.arange(40.0)) == np.average(
        log.predict(X) == yb, weights=np.arange(40.0)
    )
