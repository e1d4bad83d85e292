"""Image classification data sets: scikit-learn's digits, MNIST and Fashion-MNIST.

``load_images("digits")`` works offline. MNIST and Fashion-MNIST are read from
a folder of your own (``data_dir``: the four IDX files, raw or gzipped, flat or
in torchvision's ``MNIST/raw/`` layout) or downloaded once into a cache folder,
with their MD5 checksums verified.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gradlab.data._digits_split import N_TRAIN, split_order
from gradlab.data.dataset import ImageDataset, check_label_range, check_same_size, check_split
from gradlab.data.idx import DOWNLOAD_AGAIN, IdxSpec, read_idx
from gradlab.errors import (
    DataError,
    DownloadError,
    GradlabError,
    MissingFileError,
    UsageError,
)

__all__ = ["IMAGE_DATASETS", "ImageDataset", "load_images"]

#: The names ``load_images`` knows.
IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist", "synthetic")
#: The four files of MNIST and Fashion-MNIST, without the ``.gz`` ending.
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
#: What each of the four files must declare, for MNIST and Fashion-MNIST alike: its role,
#: its shape (None: the number of items) and the most items it may hold. The headers are
#: checked against this before any data is read, so a damaged or hostile file cannot
#: make ``load_images`` allocate more than the real data set needs.
IDX_LAYOUT: dict[str, tuple[str, tuple[int | None, ...], int]] = {
    "train-images-idx3-ubyte": ("training images", (None, 28, 28), 60000),
    "train-labels-idx1-ubyte": ("training labels", (None,), 60000),
    "t10k-images-idx3-ubyte": ("test images", (None, 28, 28), 10000),
    "t10k-labels-idx1-ubyte": ("test labels", (None,), 10000),
}
#: The fixed split of scikit-learn's digits: 25 % test, stratified, this seed (the split
#: itself is stored in :mod:`gradlab.data._digits_split`).
DIGITS_TEST_SIZE = 0.25
DIGITS_SPLIT_SEED = 0

_DIGIT_CLASSES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class IdxSource:
    """Where an IDX data set comes from.

    Attributes
    ----------
    folder : str
        torchvision's folder name for it (``root/<folder>/raw/`` holds the files).
    mirrors : tuple of str
        Base URLs to download the ``.gz`` files from, tried in order.
    md5 : mapping of str to str
        The MD5 checksum of each ``.gz`` file, by file name.
    sizes : mapping of str to int
        The size in bytes of each ``.gz`` file, by file name: a download is
        cut off at its file's size, so a hostile mirror cannot fill the disk.
    classes : tuple of str
        The class names, by label.
    """

    folder: str
    mirrors: tuple[str, ...]
    md5: Mapping[str, str]
    sizes: Mapping[str, int]
    classes: tuple[str, ...]


#: The downloadable data sets. Mirrors and MD5s as in torchvision.datasets.MNIST
#: and FashionMNIST (torchvision/datasets/mnist.py); sizes as the data sets publish them.
IDX_SOURCES: dict[str, IdxSource] = {
    "mnist": IdxSource(
        folder="MNIST",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        sizes={
            "train-images-idx3-ubyte.gz": 9912422,
            "train-labels-idx1-ubyte.gz": 28881,
            "t10k-images-idx3-ubyte.gz": 1648877,
            "t10k-labels-idx1-ubyte.gz": 4542,
        },
        classes=_DIGIT_CLASSES,
    ),
    "fashion-mnist": IdxSource(
        folder="FashionMNIST",
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            # the same four files in the data set's own repository (same MD5s)
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        sizes={
            "train-images-idx3-ubyte.gz": 26421880,
            "train-labels-idx1-ubyte.gz": 29515,
            "t10k-images-idx3-ubyte.gz": 4422102,
            "t10k-labels-idx1-ubyte.gz": 5148,
        },
        classes=(
            "t-shirt/top",
            "trouser",
            "pullover",
            "dress",
            "coat",
            "sandal",
            "shirt",
            "sneaker",
            "bag",
            "ankle boot",
        ),
    ),
}


def load_images(
    name: str = "digits",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> ImageDataset:
    """Load an image classification data set.

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist", "synthetic"}, default "digits"
        ``"digits"``: scikit-learn's 1797 digits of 8x8 pixels, scaled from
        0..16 to 0..255 (``round(v * 255 / 16)``), split by a fixed stratified
        draw (``train_test_split(test_size=0.25, stratify=y, random_state=0)``:
        1347 training and 450 test images); needs no network.
        ``"mnist"``, ``"fashion-mnist"``: 60000 training and 10000 test images
        of 28x28. ``"synthetic"``: :func:`gradlab.data.synthetic.make_images`
        with its defaults (MNIST-shaped, generated, offline).
    data_dir : path-like, optional
        Read MNIST or Fashion-MNIST from this folder instead of the cache:
        each of the four files raw or ``.gz``, directly in it or in
        torchvision's layout ``data_dir/MNIST/raw/`` (``FashionMNIST/raw/``).
    cache_dir : path-like, optional
        Where downloads are kept, in a sub-folder per data set; by default
        :func:`gradlab.data.download.default_cache_dir`.
    download : bool, default True
        Download missing files. With False, only the cache folder is read.
    mirrors : sequence of str, optional
        Base URLs to download from instead of the data set's own mirrors. The
        files must still match the published checksums. By default, the URLs
        in ``$GRADLAB_MIRRORS`` (comma-separated; ``{dataset}`` in one is
        replaced by ``name``) and then the data set's own mirrors.
    progress : bool, optional
        Show download progress bars; by default when standard error is a terminal.
    log : callable, optional
        Receives the download messages (a download started, a mirror failed, a
        file failed its checksum); by default they are printed on standard
        error. ``lambda message: None`` silences them.

    Returns
    -------
    ImageDataset
        Images as uint8 arrays of shape (n, height, width), labels as int64.

    Raises
    ------
    UsageError
        ``name`` is not one of :data:`IMAGE_DATASETS`; the cache folder is
        a file or cannot be created; or ``$GRADLAB_MIRRORS`` holds something
        other than http(s) URLs.
    DataError
        A file is missing (the message lists the file names and the folders
        searched) or damaged, or the files do not fit together.
    DownloadError
        No mirror delivered a file.
    """
    key = name.lower()
    if key == "digits":
        return _load_digits()
    if key == "synthetic":
        from gradlab.data.synthetic import make_images

        return make_images()
    source = IDX_SOURCES.get(key)
    if source is None:
        raise UsageError(
            f"unknown image data set {name!r}; choose one of: {', '.join(IMAGE_DATASETS)}"
        )
    try:
        return _dataset_from_files(
            key, source.classes, _idx_files(key, source, data_dir, cache_dir, download,
                                            mirrors, progress, log),
            damaged_hint=DOWNLOAD_AGAIN if data_dir is None else _REPLACE_OWN_COPY,
        )  # fmt: skip
    except OSError as exc:
        if isinstance(exc, GradlabError):  # a download's own error (DownloadError, ...)
            raise
        # a path the system cannot use as given: a name too long, a loop of links, ...
        raise DataError(
            f"{exc.filename}: {exc.strerror or exc}.",
            hint="Check --data-dir and --cache-dir (or GRADLAB_DATA).",
        ) from None


def _idx_files(
    key: str,
    source: IdxSource,
    data_dir: str | os.PathLike[str] | None,
    cache_dir: str | os.PathLike[str] | None,
    download: bool,
    mirrors: Sequence[str] | None,
    progress: bool | None,
    log: Callable[[str], None] | None,
) -> dict[str, Path]:
    """The four IDX files of ``key``: from ``data_dir``, the cache, or a download."""
    if data_dir is not None:
        root = Path(data_dir)
        if root.exists() and not root.is_dir():
            what = "a file" if root.is_file() else "not a folder"
            raise DataError(
                f"{root} is {what}; the data folder must be a folder holding the four files "
                f"{', '.join(IDX_FILES)} (raw or .gz).",
                hint="Pass the folder that contains the files as --data-dir.",
            )
        files = _find_files(
            key,
            [root, root / source.folder / "raw"],
            hint=f"Put the four files into {root}/, or leave out --data-dir to download them.",
        )
    else:
        from gradlab.data.download import default_cache_dir  # urllib, ssl: only when needed

        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        folder = folder / key
        if download:
            files = _fetch_files(key, source, folder, mirrors=mirrors, progress=progress, log=log)
        else:
            files = _find_files(
                key, [folder], hint="Downloading is switched off; switch it on to fetch them."
            )
    return files


def _load_digits() -> ImageDataset:
    """scikit-learn's 8x8 digits as uint8 0..255, with the fixed stratified split."""
    pixels, labels = _read_digits()
    images = np.rint(pixels.reshape(-1, 8, 8) * (255 / 16)).astype(np.uint8)
    order = split_order()
    train, test = order[:N_TRAIN], order[N_TRAIN:]
    return ImageDataset(
        "digits", images[train], labels[train], images[test], labels[test], _DIGIT_CLASSES
    )


def _read_digits() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The digits' pixels, shape (1797, 64), 0..16, and labels, shape (1797,).

    Read from the file scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``),
    found without importing scikit-learn, which takes a second or more; the same
    file ``load_digits`` reads. Where that file is missing or not as expected,
    from ``sklearn.datasets.load_digits``.
    """
    path = _digits_file()
    if path is not None:
        try:
            with gzip.open(path, "rt", encoding="ascii") as text:
                data = np.loadtxt(text, delimiter=",", dtype=np.float64, ndmin=2)
        except (OSError, EOFError, ValueError, zlib.error):
            data = None
        if data is not None and _looks_like_digits(data):
            return data[:, :-1], data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.asarray(bunch.data, np.float64), np.asarray(bunch.target, np.int64)


def _digits_file() -> Path | None:
    """Where scikit-learn's digits.csv.gz is, found without importing scikit-learn; or None."""
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


def _looks_like_digits(data: npt.NDArray[np.float64]) -> bool:
    """True for 1797 rows of 64 pixels in 0..16 and a label in 0..9, all integers."""
    return (
        data.shape == (1797, 65)
        and bool(np.all(data == np.rint(data)))
        and bool(np.all((data[:, :-1] >= 0) & (data[:, :-1] <= 16)))
        and bool(np.all((data[:, -1] >= 0) & (data[:, -1] <= 9)))
    )


def idx_spec(name: str, base: str) -> IdxSpec:
    """What the file ``base`` (one of :data:`IDX_FILES`) of data set ``name`` must declare."""
    role, shape, max_items = IDX_LAYOUT[base]
    return IdxSpec(what=f"{name} {role}", dtype="uint8", shape=shape, max_items=max_items)


def _find_files(name: str, folders: Sequence[Path], *, hint: str) -> dict[str, Path]:
    """Find each of :data:`IDX_FILES`, raw or ``.gz``, in the first folder that has it.

    Returns
    -------
    dict of str to Path
        The path of each file, by its name without ``.gz``.
    """
    found: dict[str, Path] = {}
    for base in IDX_FILES:
        candidates = [folder / f"{base}{ending}" for folder in folders for ending in ("", ".gz")]
        path = next((c for c in candidates if c.is_file()), None)
        if path is not None:
            found[base] = path
            continue
        odd = next((c for c in candidates if c.exists()), None)  # a folder, pipe, device
        if odd is not None:
            kind = "a folder" if odd.is_dir() else "not a regular file"
            raise DataError(
                f"{odd}: is {kind}; the {name} file {base} must be a file on disk.",
                hint=f"The {name} data set is the four files {', '.join(IDX_FILES)}. {hint}",
            )
    missing = [base for base in IDX_FILES if base not in found]
    if missing:
        raise MissingFileError(
            f"cannot find the {name} file(s) {', '.join(missing)} (raw or .gz); "
            f"looked in: {', '.join(map(str, folders))}",
            hint=f"The {name} data set is the four files {', '.join(IDX_FILES)}. {hint}",
            path=folders[0] / missing[0],
        )
    return found


def _fetch_files(
    key: str,
    source: IdxSource,
    folder: Path,
    *,
    mirrors: Sequence[str] | None,
    progress: bool | None,
    log: Callable[[str], None] | None,
) -> dict[str, Path]:
    """Download each ``.gz`` file of ``source`` into ``folder`` unless cached and verified:
    from ``mirrors``, else from those in ``$GRADLAB_MIRRORS`` and then the data set's own."""
    names = [f"{base}.gz" for base in IDX_FILES]
    from gradlab.data.download import MIRRORS_VARIABLE, env_mirrors, fetch_all, stderr_log

    try:
        paths = fetch_all(
            names,
            mirrors=[*env_mirrors(key), *source.mirrors] if mirrors is None else mirrors,
            md5=source.md5,
            sizes=source.sizes,
            cache_dir=folder,
            progress=progress,
            log=log if log is not None else stderr_log,
        )
    except DownloadError as exc:
        if mirrors is not None:
            raise
        raise DownloadError(
            exc.message,
            hint=f"{exc.hint}\nOr set {MIRRORS_VARIABLE} to the base URLs of mirrors that work "
            "for you, separated by commas; they are tried first, and their files must still "
            "be the published ones.",
        ) from None
    return {base: paths[f"{base}.gz"] for base in IDX_FILES}


#: What to do about a damaged file in ``data_dir``: it is never downloaded again.
_REPLACE_OWN_COPY = (
    "Replace it with a good copy (files read with --data-dir are never downloaded), "
    "or leave out --data-dir to download the data set."
)


def _dataset_from_files(
    name: str, classes: tuple[str, ...], files: Mapping[str, Path], *, damaged_hint: str
) -> ImageDataset:
    """Read the four IDX files and check that they fit together; ``damaged_hint`` says what
    to do about a damaged one."""
    train_images, train_labels, test_images, test_labels = (files[base] for base in IDX_FILES)
    X_train, y_train, X_test, y_test = (
        read_idx(files[base], spec=idx_spec(name, base), damaged_hint=damaged_hint)
        for base in IDX_FILES
    )
    check_split(X_train, y_train, str(train_images), str(train_labels))
    check_split(X_test, y_test, str(test_images), str(test_labels))
    check_same_size(X_train, X_test, str(train_images), str(test_images))
    check_label_range(y_train, classes, str(train_labels))
    check_label_range(y_test, classes, str(test_labels))
    return ImageDataset(
        name, X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64), classes
    )
