"""A cache folder that cannot be created, refused by permissions: a UsageError (exit status
2) that names the folder. The refusal is faked, so that these run as root too (CI runs as
root, who may write anywhere; test_download.py has the real-permission test)."""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path
from typing import Any

import pytest

from gradlab.cli import main
from gradlab.data.download import fetch
from gradlab.data.images import IDX_SOURCES
from gradlab.errors import ExitStatus, UsageError

CACHE_HINT = (
    "Pass --cache-dir DIR, or set GRADLAB_DATA, to a folder you can write to "
    "(it is created when missing)."
)
#: Nothing listens on the discard port: a download that should not happen fails at once.
NOWHERE = "http://127.0.0.1:9/"


@pytest.fixture
def locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder in which making a folder is refused, as a read-only folder refuses it."""
    folder = tmp_path / "locked"
    folder.mkdir()
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.parent == folder:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    return folder


def test_a_cache_folder_refused_by_permissions_is_a_usage_error_even_as_root(
    locked: Path,
) -> None:
    cache = locked / "c"
    with pytest.raises(UsageError) as caught:
        fetch("f.gz", mirrors=[NOWHERE], md5="0" * 32, cache_dir=cache, log=lambda line: None)
    assert str(caught.value) == (
        f"cannot create the cache folder {cache}: Permission denied\n{CACHE_HINT}"
    )
    assert caught.value.exit_status == ExitStatus.USAGE == 2
    assert list(locked.iterdir()) == []


def test_cli_cache_folder_refused_by_permissions_exits_2_even_as_root(
    locked: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the data set's mirrors are replaced, so that nothing can reach the network
    nowhere = dataclasses.replace(IDX_SOURCES["mnist"], mirrors=(NOWHERE,))
    monkeypatch.setitem(IDX_SOURCES, "mnist", nowhere)
    cache = locked / "c"
    code = main(["train", "softmax", "--dataset", "mnist", "--cache-dir", str(cache),
                 "--out", str(tmp_path / "run"), "--no-plots", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == ExitStatus.USAGE == 2
    assert err == (
        f"gradlab train: error: cannot create the cache folder {cache / 'mnist'}: "
        f"Permission denied\n{CACHE_HINT}\n"
    )
