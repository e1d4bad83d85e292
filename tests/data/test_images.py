"""load_images(), ImageDataset and make_images()."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from gradlab.data import images as images_module
from gradlab.data._digits_split import split_order
from gradlab.data.idx import write_idx
from gradlab.data.images import IDX_FILES, IDX_SOURCES, ImageDataset, load_images
from gradlab.data.synthetic import make_images
from gradlab.errors import DataError, DownloadError, UsageError

from .conftest import FileServer

TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = IDX_FILES


def fake_arrays(n_train: int = 12, n_test: int = 5) -> dict[str, npt.NDArray[np.uint8]]:
    """Small MNIST-like arrays, by file name."""
    rng = np.random.default_rng(0)
    return {
        TRAIN_IMAGES: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        TRAIN_LABELS: (np.arange(n_train) % 10).astype(np.uint8),
        TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        TEST_LABELS: (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_files(
    folder: Path, arrays: dict[str, npt.NDArray[np.uint8]], *, gz: bool = False
) -> dict[str, Path]:
    """Write ``arrays`` as IDX files into ``folder`` (``.gz`` and compressed when ``gz``)."""
    ending = ".gz" if gz else ""
    return {
        base: write_idx(folder / f"{base}{ending}", array, compress=gz)
        for base, array in arrays.items()
    }


def assert_matches(data: ImageDataset, arrays: dict[str, npt.NDArray[np.uint8]]) -> None:
    np.testing.assert_array_equal(data.X_train, arrays[TRAIN_IMAGES])
    np.testing.assert_array_equal(data.y_train, arrays[TRAIN_LABELS])
    np.testing.assert_array_equal(data.X_test, arrays[TEST_IMAGES])
    np.testing.assert_array_equal(data.y_test, arrays[TEST_LABELS])
    assert data.X_train.dtype == np.uint8
    assert data.y_train.dtype == np.int64
    assert data.y_test.dtype == np.int64


# --- digits ----------------------------------------------------------------------------------


def test_digits_load_offline_with_the_fixed_split() -> None:
    data = load_images("digits")
    assert data.name == "digits"
    assert data.X_train.shape == (1347, 8, 8)
    assert data.X_test.shape == (450, 8, 8)
    assert data.X_train.dtype == np.uint8
    assert data.y_train.dtype == np.int64
    assert data.classes == tuple("0123456789")
    assert (data.n_classes, data.image_shape, data.n_features) == (10, (8, 8), 64)
    assert data.X_train.max() == 255
    assert set(np.unique(data.X_test)) <= {round(v * 255 / 16) for v in range(17)}
    assert np.bincount(data.y_test).min() >= 43  # stratified: about 45 of each digit
    again = load_images("digits")
    np.testing.assert_array_equal(again.X_train, data.X_train)
    np.testing.assert_array_equal(again.y_test, data.y_test)


def digits_from_scikit_learn() -> ImageDataset:
    """The digits as scikit-learn loads and splits them, by the documented recipe."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)
    X_train, X_test, y_train, y_test = train_test_split(
        images,
        bunch.target,
        test_size=images_module.DIGITS_TEST_SIZE,
        stratify=bunch.target,
        random_state=images_module.DIGITS_SPLIT_SEED,
    )
    return ImageDataset("digits", X_train, y_train, X_test, y_test, tuple("0123456789"))


def assert_same_digits(data: ImageDataset, reference: ImageDataset) -> None:
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(data, field), getattr(reference, field))
        assert getattr(data, field).dtype == getattr(reference, field).dtype


def test_digits_are_scikit_learns_images_in_scikit_learns_split() -> None:
    assert_same_digits(load_images("digits"), digits_from_scikit_learn())


def test_digits_come_from_the_file_scikit_learn_ships_without_importing_it() -> None:
    probe = (
        "import sys\n"
        "from gradlab.data.images import load_images\n"
        "data = load_images('digits')\n"
        "print(len(data.y_train), len(data.y_test),"
        " sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert run.stdout.split() == ["1347", "450", "[]"]


@pytest.mark.parametrize("file", ["missing", "damaged", "other data"])
def test_digits_fall_back_to_load_digits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file: str
) -> None:
    bad = tmp_path / "digits.csv.gz"
    if file == "damaged":
        bad.write_bytes(b"\x1f\x8b not really gzip")
    elif file == "other data":
        bad.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    monkeypatch.setattr(images_module, "_digits_file", lambda: None if file == "missing" else bad)
    assert_same_digits(load_images("digits"), digits_from_scikit_learn())


def test_the_stored_split_is_a_permutation_of_the_rows() -> None:
    order = split_order()
    assert sorted(order.tolist()) == list(range(1797))


def test_unknown_data_set_name_lists_the_valid_ones() -> None:
    with pytest.raises(
        UsageError,
        match="unknown image data set 'cifar10'; choose one of: digits, mnist, fashion-mnist",
    ):
        load_images("cifar10")


def test_synthetic_by_name_is_make_images_with_defaults() -> None:
    data = load_images("synthetic")
    assert data.name == "synthetic"
    assert data.X_train.shape == (60000, 28, 28)


# --- IDX files from a folder -----------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_data_dir_with_flat_files(tmp_path: Path, gz: bool) -> None:
    arrays = fake_arrays()
    write_files(tmp_path, arrays, gz=gz)
    data = load_images("mnist", data_dir=tmp_path)
    assert_matches(data, arrays)
    assert data.name == "mnist"
    assert data.image_shape == (28, 28)


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
@pytest.mark.parametrize("gz", [False, True])
def test_data_dir_in_torchvision_layout(tmp_path: Path, name: str, folder: str, gz: bool) -> None:
    arrays = fake_arrays()
    write_files(tmp_path / folder / "raw", arrays, gz=gz)
    data = load_images(name, data_dir=tmp_path)
    assert_matches(data, arrays)
    assert data.classes == IDX_SOURCES[name].classes


def test_data_dir_with_raw_and_gz_files_mixed(tmp_path: Path) -> None:
    arrays = fake_arrays()
    write_files(tmp_path, {TRAIN_IMAGES: arrays[TRAIN_IMAGES], TEST_LABELS: arrays[TEST_LABELS]})
    write_files(tmp_path / "MNIST" / "raw", arrays, gz=True)
    data = load_images("mnist", data_dir=tmp_path)
    assert_matches(data, arrays)


def test_missing_files_are_listed_with_every_folder_searched(tmp_path: Path) -> None:
    arrays = fake_arrays()
    write_files(tmp_path, {TRAIN_IMAGES: arrays[TRAIN_IMAGES], TRAIN_LABELS: arrays[TRAIN_LABELS]})
    with pytest.raises(
        DataError,
        match="(?s)"
        + re.escape(
            f"cannot find the mnist file(s) {TEST_IMAGES}, {TEST_LABELS} (raw or .gz); "
            f"looked in: {tmp_path}, {tmp_path / 'MNIST' / 'raw'}"
        )
        + ".*"
        + re.escape(f"is the four files {', '.join(IDX_FILES)}"),
    ) as caught:
        load_images("mnist", data_dir=tmp_path)
    # Python code may catch it as it catches open()'s error; the first missing file is named
    assert isinstance(caught.value, FileNotFoundError)
    assert caught.value.filename == str(tmp_path / TEST_IMAGES)


@pytest.mark.parametrize("where", ["data_dir", "cache"])
def test_a_damaged_file_gets_a_hint_that_fits_where_it_came_from(
    tmp_path: Path, where: str
) -> None:
    """A file in --data-dir was told "Delete it and download it again", though --data-dir
    files are never downloaded."""
    folder = tmp_path / "mnist" if where == "cache" else tmp_path
    paths = write_files(folder, fake_arrays(), gz=True)
    labels = paths[TRAIN_LABELS]
    labels.write_bytes(labels.read_bytes()[:-12])
    where_from = {"data_dir": tmp_path} if where == "data_dir" else {"cache_dir": tmp_path}
    with pytest.raises(DataError) as caught:
        load_images("mnist", **where_from, download=False)  # type: ignore[arg-type]
    assert caught.value.message.startswith(f"{labels} is a damaged gzip file")
    assert caught.value.hint == (
        "Replace it with a good copy (files read with --data-dir are never downloaded), or "
        "leave out --data-dir to download the data set."
        if where == "data_dir"
        else "Delete it and download it again."
    )


def test_count_mismatch_names_both_files(tmp_path: Path) -> None:
    arrays = fake_arrays()
    arrays[TRAIN_LABELS] = arrays[TRAIN_LABELS][:11]
    paths = write_files(tmp_path, arrays)
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{paths[TRAIN_IMAGES]} has 12 images but {paths[TRAIN_LABELS]} has 11 labels"
        ),
    ) as caught:
        load_images("mnist", data_dir=tmp_path)
    assert caught.value.hint == (
        "Give the images and labels of one split of one data set (for IDX files, the "
        "matching train-* or t10k-* pair); a file cut short must be fetched again."
    )


def test_label_out_of_range_names_file_value_and_index(tmp_path: Path) -> None:
    arrays = fake_arrays()
    arrays[TEST_LABELS][3] = 10
    paths = write_files(tmp_path, arrays)
    with pytest.raises(
        DataError,
        match=re.escape(f"{paths[TEST_LABELS]} has label 10 at index 3, outside 0..9"),
    ) as caught:
        load_images("mnist", data_dir=tmp_path)
    assert caught.value.hint == (
        "Check that the labels belong to this data set and are not damaged; a damaged file "
        "must be fetched again."
    )


@pytest.mark.parametrize(
    ("base", "array", "declared", "allowed"),
    [
        (
            TEST_IMAGES,
            np.zeros((5, 28, 27), np.uint8),
            "5 images of 28x27 (uint8, 3780 bytes)",
            "mnist test images must be at most 10000 images of 28x28 (uint8)",
        ),
        (
            TRAIN_IMAGES,
            np.zeros((12, 784), np.float32),
            "12 items of 784 (float32, 37632 bytes)",
            "mnist training images must be at most 60000 images of 28x28 (uint8)",
        ),
        (
            TRAIN_LABELS,
            np.zeros((12, 1), np.uint8),
            "12 items of 1 (uint8, 12 bytes)",
            "mnist training labels must be at most 60000 items (uint8)",
        ),
        (
            TEST_LABELS,
            np.zeros(10001, np.uint8),
            "10001 items (uint8, 10001 bytes)",
            "mnist test labels must be at most 10000 items (uint8)",
        ),
    ],
)
def test_a_file_whose_header_is_not_the_data_sets_layout_is_refused(
    tmp_path: Path, base: str, array: npt.NDArray[np.generic], declared: str, allowed: str
) -> None:
    paths = write_files(tmp_path, fake_arrays())
    write_idx(paths[base], array)
    with pytest.raises(DataError) as caught:
        load_images("mnist", data_dir=tmp_path)
    assert str(caught.value) == (
        f"{paths[base]} declares {declared}, but {allowed}\n"
        "Check that the file is the one its name says, and not damaged."
    )


def test_a_gzip_bomb_in_the_data_folder_is_refused_from_its_header(tmp_path: Path) -> None:
    paths = write_files(tmp_path, fake_arrays())
    paths[TRAIN_IMAGES].unlink()
    bomb = tmp_path / f"{TRAIN_IMAGES}.gz"
    header = struct.pack(">BBBB3I", 0, 0, 0x08, 3, 10**9, 28, 28)
    bomb.write_bytes(gzip.compress(header + bytes(1 << 20)))  # the rest would be 784 GB
    with pytest.raises(DataError) as caught:
        load_images("mnist", data_dir=tmp_path)
    assert str(caught.value).startswith(
        f"{bomb} declares 1000000000 images of 28x28 (uint8, 784000000000 bytes), but mnist "
        "training images must be at most 60000 images of 28x28 (uint8)"
    )


# --- downloads -------------------------------------------------------------------------------


@pytest.fixture
def mnist_mirror(
    file_server: FileServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[str, dict[str, npt.NDArray[np.uint8]]]:
    """A local mirror serving small fake MNIST ``.gz`` files, with their MD5s patched in."""
    arrays = fake_arrays()
    paths = write_files(tmp_path / "served", arrays, gz=True)
    mirror = file_server.mirror("mnist")
    md5, sizes = {}, {}
    for path in paths.values():
        file_server.serve(mirror, path.name, path.read_bytes())
        md5[path.name] = hashlib.md5(path.read_bytes()).hexdigest()
        sizes[path.name] = path.stat().st_size
    fake = dataclasses.replace(IDX_SOURCES["mnist"], md5=md5, sizes=sizes)
    monkeypatch.setitem(IDX_SOURCES, "mnist", fake)
    return mirror, arrays


def test_mnist_downloads_into_the_cache_and_then_reads_it_offline(
    mnist_mirror: tuple[str, dict[str, npt.NDArray[np.uint8]]],
    file_server: FileServer,
    tmp_path: Path,
) -> None:
    mirror, arrays = mnist_mirror
    cache = tmp_path / "cache"
    data = load_images("mnist", cache_dir=cache, mirrors=[mirror], progress=False)
    assert_matches(data, arrays)
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(
        f"{base}.gz" for base in IDX_FILES
    )
    assert len(file_server.requests) == 4
    again = load_images("mnist", cache_dir=cache, mirrors=[mirror], progress=False)
    assert_matches(again, arrays)
    assert len(file_server.requests) == 4  # all four were cache hits
    offline = load_images("mnist", cache_dir=cache, download=False)
    assert_matches(offline, arrays)


def test_download_messages_go_to_the_given_log_and_not_to_stderr(
    mnist_mirror: tuple[str, dict[str, npt.NDArray[np.uint8]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mirror, _ = mnist_mirror
    messages: list[str] = []
    load_images(
        "mnist", cache_dir=tmp_path / "cache", mirrors=[mirror], progress=False,
        log=messages.append,
    )  # fmt: skip
    assert [m.split("/")[-1] for m in messages] == [f"{base}.gz" for base in IDX_FILES]
    assert all(m.startswith("downloading http://127.0.0.1:") for m in messages)
    assert capsys.readouterr().err == ""


def test_cache_dir_defaults_to_gradlab_data(
    mnist_mirror: tuple[str, dict[str, npt.NDArray[np.uint8]]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    mirror, arrays = mnist_mirror
    monkeypatch.setenv("GRADLAB_DATA", str(tmp_path / "env"))
    assert_matches(load_images("mnist", mirrors=[mirror], progress=False), arrays)
    assert (tmp_path / "env" / "mnist" / f"{TRAIN_IMAGES}.gz").is_file()


def test_files_of_another_size_than_published_are_not_downloaded(
    file_server: FileServer, tmp_path: Path
) -> None:
    mirror = file_server.mirror("mnist")
    for path in write_files(tmp_path / "served", fake_arrays(), gz=True).values():
        file_server.serve(mirror, path.name, path.read_bytes())
    served = (tmp_path / "served" / f"{TRAIN_IMAGES}.gz").stat().st_size
    published = IDX_SOURCES["mnist"].sizes[f"{TRAIN_IMAGES}.gz"]
    with pytest.raises(
        DownloadError,
        match=re.escape(f"announces {served} bytes, but the file has {published}; not downloaded"),
    ):
        load_images("mnist", cache_dir=tmp_path / "cache", mirrors=[mirror], progress=False)
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_files_with_the_published_checksums_are_required(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = file_server.mirror("mnist")
    sizes = {}
    for path in write_files(tmp_path / "served", fake_arrays(), gz=True).values():
        file_server.serve(mirror, path.name, path.read_bytes())
        sizes[path.name] = path.stat().st_size
    monkeypatch.setitem(
        IDX_SOURCES, "mnist", dataclasses.replace(IDX_SOURCES["mnist"], sizes=sizes)
    )
    published = IDX_SOURCES["mnist"].md5[f"{TRAIN_IMAGES}.gz"]
    with pytest.raises(DownloadError, match=f"expected md5 {published}"):
        load_images("mnist", cache_dir=tmp_path / "cache", mirrors=[mirror], progress=False)
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_failed_download_hint_names_all_four_files_and_the_cache_folder(
    closed_port_mirror: str, tmp_path: Path
) -> None:
    names = ", ".join(f"{base}.gz" for base in IDX_FILES)
    with pytest.raises(
        DownloadError,
        match="(?s)"
        + re.escape(f"Download {names} by hand")
        + ".*"
        + re.escape(f"into {tmp_path / 'fashion-mnist'}/"),
    ):
        load_images(
            "fashion-mnist", cache_dir=tmp_path, mirrors=[closed_port_mirror], progress=False
        )


def test_failed_download_hint_gives_each_files_published_size_and_md5(
    closed_port_mirror: str, tmp_path: Path
) -> None:
    source = IDX_SOURCES["mnist"]
    with pytest.raises(DownloadError) as caught:
        load_images("mnist", cache_dir=tmp_path, mirrors=[closed_port_mirror], progress=False,
                    log=lambda line: None)  # fmt: skip
    for base in IDX_FILES:
        name = f"{base}.gz"
        assert f"\n  {name}: {source.sizes[name]} bytes, MD5 {source.md5[name]}\n" in str(
            caught.value
        )


# --- GRADLAB_MIRRORS --------------------------------------------------------------------------


@pytest.fixture
def no_builtin_mirrors(monkeypatch: pytest.MonkeyPatch, closed_port_mirror: str) -> str:
    """MNIST's own mirrors replaced by one that refuses connections (tests never go out)."""
    source = dataclasses.replace(IDX_SOURCES["mnist"], mirrors=(closed_port_mirror,))
    monkeypatch.setitem(IDX_SOURCES, "mnist", source)
    return closed_port_mirror


def test_gradlab_mirrors_are_tried_before_the_data_sets_own(
    mnist_mirror: tuple[str, dict[str, npt.NDArray[np.uint8]]],
    no_builtin_mirrors: str,
    file_server: FileServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    mirror, arrays = mnist_mirror
    # {dataset} is the data set's name; blanks and empty entries are ignored
    monkeypatch.setenv("GRADLAB_MIRRORS", " , " + mirror.replace("/mnist/", "/{dataset}/") + " ,")
    log: list[str] = []
    data = load_images("mnist", cache_dir=tmp_path / "c", progress=False, log=log.append)
    assert_matches(data, arrays)
    assert file_server.requests == [f"/mnist/{base}.gz" for base in IDX_FILES]
    assert not any(no_builtin_mirrors in line for line in log)


def test_gradlab_mirrors_must_serve_the_published_files(
    file_server: FileServer,
    no_builtin_mirrors: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    mirror = file_server.mirror("other")
    for path in write_files(tmp_path / "served", fake_arrays(), gz=True).values():
        file_server.serve(mirror, path.name, path.read_bytes())
    monkeypatch.setenv("GRADLAB_MIRRORS", mirror)
    with pytest.raises(DownloadError) as caught:
        load_images("mnist", cache_dir=tmp_path / "c", progress=False, log=lambda line: None)
    served = (tmp_path / "served" / f"{TRAIN_IMAGES}.gz").stat().st_size
    published = IDX_SOURCES["mnist"].sizes[f"{TRAIN_IMAGES}.gz"]
    assert caught.value.message == (
        f"could not download {TRAIN_IMAGES}.gz from any mirror:\n"
        f"  {mirror}{TRAIN_IMAGES}.gz: announces {served} bytes, but the file has {published}; "
        "not downloaded\n"
        f"  {no_builtin_mirrors}{TRAIN_IMAGES}.gz: cannot connect: Connection refused"
    )
    assert (caught.value.hint or "").endswith(
        "\nOr set GRADLAB_MIRRORS to the base URLs of mirrors that work for you, separated by "
        "commas; they are tried first, and their files must still be the published ones."
    )


@pytest.mark.parametrize(
    "value",
    [
        "ftp://127.0.0.1/mnist/",
        "127.0.0.1:8000/mnist/",
        "http://",
        "http://127.0.0.1:abc/",
        "http://127.0.0.1:99999/",
    ],
)
def test_gradlab_mirrors_holding_something_else_than_http_urls_is_a_usage_error(
    no_builtin_mirrors: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("GRADLAB_MIRRORS", f"http://127.0.0.1:9/, {value}")
    with pytest.raises(UsageError) as caught:
        load_images("mnist", cache_dir=tmp_path / "c", progress=False, log=lambda line: None)
    assert str(caught.value) == (
        f"GRADLAB_MIRRORS holds {value!r}, which is not an http:// or https:// URL.\n"
        "Set GRADLAB_MIRRORS to base URLs separated by commas, such as "
        "https://example.org/{dataset}/ (tried before the data set's own mirrors), or unset it."
    )
    assert not (tmp_path / "c").exists()


def test_the_cli_downloads_from_gradlab_mirrors(
    mnist_mirror: tuple[str, dict[str, npt.NDArray[np.uint8]]],
    no_builtin_mirrors: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gradlab.cli import main

    mirror, _ = mnist_mirror
    monkeypatch.setenv("GRADLAB_MIRRORS", mirror)
    cache = tmp_path / "cache"
    code = main(["train", "softmax", "--dataset", "mnist", "--cache-dir", str(cache),
                 "--epochs", "1", "--no-plots", "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"downloading {mirror}{TRAIN_IMAGES}.gz" in err
    assert (cache / "mnist" / f"{TRAIN_IMAGES}.gz").is_file()


def test_the_cli_says_which_gradlab_mirrors_failed_with_exit_status_4(
    no_builtin_mirrors: str,
    closed_port_mirror: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gradlab.cli import main
    from gradlab.errors import ExitStatus

    dead = closed_port_mirror.replace("/mnist/", "/{dataset}-mirror/")
    monkeypatch.setenv("GRADLAB_MIRRORS", dead)
    argv = ["train", "softmax", "--dataset", "mnist", "--cache-dir", str(tmp_path / "c"),
            "--epochs", "1", "--no-plots", "--quiet", "--out", str(tmp_path / "out")]  # fmt: skip
    code = main(argv)
    err = capsys.readouterr().err
    assert code == ExitStatus.DOWNLOAD == 4
    mine = dead.replace("{dataset}", "mnist")
    assert (
        f"gradlab train: error: could not download {TRAIN_IMAGES}.gz from any mirror:\n"
        f"  {mine}{TRAIN_IMAGES}.gz: cannot connect: Connection refused\n"
        f"  {no_builtin_mirrors}{TRAIN_IMAGES}.gz: cannot connect: Connection refused\n"
    ) in err
    assert "Or set GRADLAB_MIRRORS to the base URLs of mirrors" in err


def test_the_cli_refuses_a_bad_gradlab_mirrors_with_exit_status_2(
    no_builtin_mirrors: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gradlab.cli import main

    monkeypatch.setenv("GRADLAB_MIRRORS", "mirror.example.org/mnist")
    code = main(["train", "softmax", "--dataset", "mnist", "--cache-dir", str(tmp_path / "c"),
                 "--epochs", "1", "--no-plots", "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert (
        "gradlab train: error: GRADLAB_MIRRORS holds 'mirror.example.org/mnist', which is not "
        "an http:// or https:// URL.\n"
    ) in err


@pytest.mark.skipif(sys.platform == "win32", reason="no flock")
def test_a_quiet_run_still_says_that_it_waits_for_another_download(
    mnist_mirror: tuple[str, dict[str, npt.NDArray[np.uint8]]],
    no_builtin_mirrors: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--quiet dropped this line too, so a run blocked on another's download looked hung."""
    import fcntl
    import threading
    import time

    from gradlab.jobs.train import load_data

    mirror, arrays = mnist_mirror
    monkeypatch.setenv("GRADLAB_MIRRORS", mirror)
    folder = tmp_path / "cache" / "mnist"
    folder.mkdir(parents=True)
    loaded: list[ImageDataset] = []
    fd = os.open(folder, os.O_RDONLY)  # the other process's lock on the folder
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        worker = threading.Thread(
            target=lambda: loaded.append(
                load_data("mnist", cache_dir=tmp_path / "cache", quiet=True)
            )
        )
        worker.start()
        err = ""
        deadline = time.monotonic() + 10
        while "waiting" not in err and time.monotonic() < deadline:
            time.sleep(0.01)
            err += capsys.readouterr().err
    finally:
        os.close(fd)  # the other process ends
    worker.join(timeout=10)
    assert err == f"waiting for another gradlab process that is downloading into {folder}\n"
    assert_matches(loaded[0], arrays)
    assert capsys.readouterr().err == ""  # the downloads themselves stay quiet


def test_without_download_an_empty_cache_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(
        DataError,
        match="(?s)"
        + re.escape(f"looked in: {tmp_path / 'mnist'}")
        + ".*Downloading is switched off",
    ):
        load_images("mnist", cache_dir=tmp_path, download=False)


@pytest.mark.parametrize("name", sorted(IDX_SOURCES))
def test_each_catalogue_entry_is_complete_and_has_no_copy_paste_slips(name: str) -> None:
    source = IDX_SOURCES[name]
    assert sorted(source.md5) == sorted(f"{base}.gz" for base in IDX_FILES)
    assert sorted(source.sizes) == sorted(source.md5)
    assert all(size > 0 for size in source.sizes.values())
    assert all(re.fullmatch("[0-9a-f]{32}", digest) for digest in source.md5.values())
    assert len(set(source.md5.values())) == len(IDX_FILES)  # one file's digest pasted twice
    assert len(source.mirrors) >= 2  # one dead mirror must not stop a download
    assert len(set(source.mirrors)) == len(source.mirrors)
    assert all(m.startswith(("https://", "http://")) and m.endswith("/") for m in source.mirrors)
    assert len(source.classes) == 10  # the labels of both data sets are 0..9
    assert len(set(source.classes)) == 10
    assert all(source.classes)


def test_no_two_data_sets_share_a_checksum() -> None:
    digests = [d for source in IDX_SOURCES.values() for d in source.md5.values()]
    assert len(set(digests)) == len(digests)


# --- ImageDataset ----------------------------------------------------------------------------


def small_dataset(**changes: object) -> ImageDataset:
    fields: dict[str, object] = {
        "name": "toy",
        "X_train": np.zeros((3, 2, 2), np.uint8),
        "y_train": np.array([0, 1, 2]),
        "X_test": np.zeros((2, 2, 2), np.uint8),
        "y_test": np.array([2, 0]),
        "classes": ("a", "b", "c"),
    }
    fields.update(changes)
    return ImageDataset(**fields)  # type: ignore[arg-type]


def test_dataset_properties_and_repr() -> None:
    data = small_dataset()
    assert (data.n_classes, data.image_shape, data.n_features) == (3, (2, 2), 4)
    assert repr(data) == "ImageDataset(name='toy', train=3, test=2, image_shape=2x2, n_classes=3)"


def test_dataset_converts_other_integer_labels_to_int64() -> None:
    data = small_dataset(y_train=np.array([0, 1, 2], np.uint8))
    assert data.y_train.dtype == np.int64


def test_dataset_count_mismatch_names_both_counts() -> None:
    with pytest.raises(DataError, match="X_train has 3 images but y_train has 2 labels"):
        small_dataset(y_train=np.array([0, 1]))


def test_dataset_label_out_of_range_names_value_and_index() -> None:
    with pytest.raises(
        DataError,
        match=re.escape("toy y_test has label -1 at index 1, outside 0..2 for its 3 classes"),
    ):
        small_dataset(y_test=np.array([0, -1]))


def test_dataset_counts_all_bad_labels() -> None:
    with pytest.raises(DataError, match=r"label 3 at index 0.*\(2 bad labels in all\)"):
        small_dataset(y_train=np.array([3, 1, 5]))


def test_dataset_refuses_train_and_test_images_of_different_sizes() -> None:
    with pytest.raises(
        DataError,
        match=re.escape(
            "X_train holds images of 2x2 but X_test holds images of 3x2; "
            "training and test images must be the same size"
        ),
    ):
        small_dataset(X_test=np.zeros((2, 3, 2), np.uint8))


def test_dataset_refuses_two_dimensional_images() -> None:
    with pytest.raises(
        DataError,
        match=re.escape(
            "X_train must hold uint8 images of shape (n, height, width), "
            "but holds uint8 values of shape (3, 4)"
        ),
    ):
        small_dataset(X_train=np.zeros((3, 4), np.uint8))


def test_dataset_refuses_float_images() -> None:
    with pytest.raises(DataError, match="X_test must hold uint8 images"):
        small_dataset(X_test=np.zeros((2, 2, 2)))


def test_dataset_refuses_float_labels() -> None:
    with pytest.raises(DataError, match="y_train must hold integer labels"):
        small_dataset(y_train=np.zeros(3))


# --- synthetic -------------------------------------------------------------------------------


def nearest_centroid_accuracy(data: ImageDataset) -> float:
    X_train = data.X_train.reshape(len(data.X_train), -1) / 255
    X_test = data.X_test.reshape(len(data.X_test), -1) / 255
    centroids = np.stack([X_train[data.y_train == k].mean(0) for k in range(data.n_classes)])
    distances = ((X_test[:, None, :] - centroids[None]) ** 2).sum(-1)
    return float((distances.argmin(1) == data.y_test).mean())


def test_synthetic_images_have_the_real_shape_and_types() -> None:
    data = make_images(500, 100)
    assert data.name == "synthetic"
    assert data.X_train.shape == (500, 28, 28)
    assert data.X_test.shape == (100, 28, 28)
    assert data.X_train.dtype == np.uint8
    assert data.y_train.dtype == np.int64
    assert data.classes == tuple("0123456789")
    assert np.bincount(data.y_train).tolist() == [50] * 10
    assert 0 < data.X_train.mean() < 128
    assert data.X_train.max() == 255


def test_synthetic_images_are_deterministic_per_seed() -> None:
    a, b, c = make_images(300, 50, seed=4), make_images(300, 50, seed=4), make_images(300, 50)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)


def test_synthetic_training_set_does_not_depend_on_the_test_size() -> None:
    a, b = make_images(300, 50), make_images(300, 80)
    np.testing.assert_array_equal(a.X_train, b.X_train)


def test_synthetic_other_shapes_and_class_counts() -> None:
    data = make_images(40, 20, shape=(8, 12), n_classes=4, seed=1)
    assert data.X_train.shape == (40, 8, 12)
    assert data.classes == ("0", "1", "2", "3")


def test_synthetic_classes_are_learnable_but_not_trivial() -> None:
    accuracy = nearest_centroid_accuracy(make_images(3000, 1000))
    assert 0.5 < accuracy < 0.95


def test_synthetic_noise_makes_it_harder() -> None:
    clean = nearest_centroid_accuracy(make_images(2000, 500, noise=0.0))
    noisy = nearest_centroid_accuracy(make_images(2000, 500, noise=1.0))
    assert noisy < clean


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_train": 0}, "make_images: n_train must be an integer >= 1; got 0."),
        ({"n_test": -1}, "make_images: n_test must be an integer >= 1; got -1."),
        ({"n_test": 2.0}, "make_images: n_test must be an integer >= 1; got 2.0."),
        ({"seed": -2}, "make_images: seed must be an integer >= 0; got -2."),
        ({"n_classes": 1}, "make_images: n_classes must be an integer >= 2; got 1."),
        (
            {"shape": (3, 28)},
            "make_images: shape must be a pair (height, width) of integers >= 4; got (3, 28).",
        ),
        (
            {"shape": (28, 28, 1)},
            "make_images: shape must be a pair (height, width) of integers >= 4; got (28, 28, 1).",
        ),
        ({"noise": float("nan")}, "make_images: noise must be a number >= 0; got nan."),
        ({"noise": -0.1}, "make_images: noise must be a number >= 0; got -0.1."),
        (  # NumPy's own "Unable to allocate 74.5 GiB" before
            {"n_train": 10**8},
            "make_images: 100,000,000 + 10,000 images of 28 x 28 are 78.4 GB of pixels, "
            "more than the 4 GB it generates.\nAsk for fewer or smaller images.",
        ),
        (
            {"n_train": 10, "shape": (10**5, 10**5)},
            "make_images: 10 + 10,000 images of 100000 x 100000 are 1e+05 GB of pixels, more "
            "than the 4 GB it generates.\nAsk for fewer or smaller images.",
        ),
    ],
)
def test_synthetic_bad_parameters_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        make_images(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_a_cache_dir_that_is_a_file_names_the_cache_options(tmp_path: Path) -> None:
    a_file = tmp_path / "cache"
    a_file.write_text("x")
    with pytest.raises(UsageError) as caught:
        load_images("mnist", cache_dir=a_file, mirrors=["http://127.0.0.1:9/"], progress=False)
    assert str(caught.value) == (
        f"the cache folder {a_file / 'mnist'} is inside {a_file}, which is a file, not a folder\n"
        "Pass --cache-dir DIR, or set GRADLAB_DATA, to a folder you can write to "
        "(it is created when missing)."
    )


@pytest.mark.parametrize("where", ["data_dir", "cache_dir"])
def test_a_folder_name_too_long_is_a_data_error_naming_it(tmp_path: Path, where: str) -> None:
    """Library callers got the OSError of Path.exists() raw."""
    long = tmp_path / ("a" * 300)
    with pytest.raises(DataError) as caught:
        load_images("mnist", **{where: long}, mirrors=["http://127.0.0.1:9/"], log=print)
    assert caught.value.message.endswith(": File name too long.")
    assert str(long) in caught.value.message
