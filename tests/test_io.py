"""Atomic output: an interrupted write leaves the old file (or nothing), never half a file."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from gradlab.errors import UsageError
from gradlab.io import PART_SUFFIX, atomic_path, check_out_dir, write_json, write_text


def test_write_text_creates_folders_and_file(tmp_path: Path) -> None:
    p = write_text(tmp_path / "a" / "b.txt", "hello")
    assert p.read_text() == "hello"


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")

    def interrupted_write() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_write()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_failed_first_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "plot.png"
    with pytest.raises(RuntimeError), atomic_path(target):
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_write_json_handles_numpy_values(tmp_path: Path) -> None:
    import numpy as np

    p = write_json(tmp_path / "x.json", {"a": np.float64(1.5), "b": np.arange(2)})
    assert p.read_text().replace(" ", "").replace("\n", "") == '{"a":1.5,"b":[0,1]}'


def test_check_out_dir_without_create_changes_nothing(tmp_path: Path) -> None:
    assert check_out_dir(tmp_path / "a" / "b", create=False) == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []


def test_check_out_dir_with_create_makes_the_folder(tmp_path: Path) -> None:
    check_out_dir(tmp_path / "a" / "b", create=True)
    assert (tmp_path / "a" / "b").is_dir()


def test_check_out_dir_reports_a_folder_it_cannot_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(UsageError, match=r"--out .*run: cannot create the folder \(Permission"):
        check_out_dir(tmp_path / "run", create=True)


def test_check_out_dir_reports_an_unwritable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gradlab.io.os.access", lambda path, mode: False)
    with pytest.raises(UsageError, match=rf"--out {tmp_path / 'run'}: {tmp_path} is not writable"):
        check_out_dir(tmp_path / "run", create=False)


def test_a_stop_signal_just_as_the_temporary_file_is_made_leaves_no_part_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    real_open = os.open

    def open_then_sigterm(path: str, flags: int, mode: int = 0o777) -> int:
        fd = real_open(path, flags, mode)
        if str(path).endswith(".part"):
            os.kill(os.getpid(), signal.SIGTERM)  # lands as the file has just been made
        return fd

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", open_then_sigterm)
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "model.bin") as tmp:
            tmp.write_bytes(b"weights")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert list(tmp_path.iterdir()) == []


def test_a_temporary_name_already_taken_is_left_alone_and_another_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradlab.io

    names = iter(["taken", "free"])
    monkeypatch.setattr(gradlab.io.secrets, "token_hex", lambda n: next(names))
    other = tmp_path / ".model.bin.taken.part"
    other.write_bytes(b"another run's")
    with atomic_path(tmp_path / "model.bin") as tmp:
        assert tmp.name == ".model.bin.free.part"
        tmp.write_bytes(b"weights")
    assert other.read_bytes() == b"another run's"
    assert (tmp_path / "model.bin").read_bytes() == b"weights"


def test_a_write_through_a_symbolic_link_writes_its_target_and_keeps_the_link(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


@pytest.mark.parametrize("check", ["write", "check_out_file"])
def test_a_pipe_is_never_replaced_by_a_file(tmp_path: Path, check: str) -> None:
    """Writing "into" a device or pipe would replace it with a regular file (os.replace)."""
    import os
    import stat

    from gradlab.io import check_out_file

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def write() -> None:
        if check == "write":
            write_text(fifo, "x")
        else:
            check_out_file(fifo, option="--markdown")

    with pytest.raises(UsageError, match=r"is not a regular file \(a device, pipe or socket\)"):
        write()
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def record_fsync_and_replace(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Record, in order, each fsync (with what its descriptor is: a "folder" or a
    "file", and its inode) and each rename that gradlab.io makes; both still run."""
    import gradlab.io

    events: list[tuple[Any, ...]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        events.append(("fsync", "folder" if stat.S_ISDIR(st.st_mode) else "file", st.st_ino))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append(("replace", Path(src).name, Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(gradlab.io.os, "fsync", fsync)
    monkeypatch.setattr(gradlab.io.os, "replace", replace)
    return events


def test_an_atomic_write_flushes_the_file_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = record_fsync_and_replace(monkeypatch)
    target = write_text(tmp_path / "report.html", "new")
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    # the file flushed is the one renamed onto the target, and the folder is the target's
    assert events[0] == ("fsync", "file", target.stat().st_ino)
    assert re.fullmatch(r"\.report\.html\.[0-9a-f]{12}" + re.escape(PART_SUFFIX), events[1][1])
    assert events[1][2] == target
    assert events[2] == ("fsync", "folder", tmp_path.stat().st_ino)


def test_a_write_that_need_not_wait_for_the_disk_is_as_atomic_without_a_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradlab.io import sync

    events = record_fsync_and_replace(monkeypatch)
    target = write_text(tmp_path / "history.csv", "epoch\n1\n", durable=False)
    assert [e[0] for e in events] == ["replace"]  # renamed into place, nothing flushed
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]
    events.clear()
    sync(target)  # what the run does later: the file, then its folder's entry
    assert events == [
        ("fsync", "file", target.stat().st_ino),
        ("fsync", "folder", tmp_path.stat().st_ino),
    ]
    events.clear()
    sync(tmp_path / "gone.csv")  # best effort: nothing to flush, nothing raised
    assert events == []


def test_disk_sync_lets_a_write_wait_first_and_then_every_few_seconds() -> None:
    from gradlab.io import DiskSync

    now = [100.0]
    disk = DiskSync(every=2.0, clock=lambda: now[0])
    seen = []
    for t in (100.0, 100.5, 101.9, 102.0, 102.1, 105.0):
        now[0] = t
        seen.append((disk.durable(), disk.pending))
    assert seen == [
        (True, False),  # the first write: a new file's name must not outlive its data
        (False, True),
        (False, True),
        (True, False),  # two seconds after the last that waited
        (False, True),
        (True, False),
    ]


def test_disk_sync_flushes_the_files_only_when_the_last_write_did_not_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradlab.io import DiskSync

    files = [write_text(tmp_path / f"{name}.csv", "x", durable=False) for name in "ab"]
    events = record_fsync_and_replace(monkeypatch)
    now = [0.0]
    disk = DiskSync(every=2.0, clock=lambda: now[0])
    disk.durable()
    disk.flush(files)
    assert events == []  # the last write waited: nothing is left to flush
    disk.durable()
    disk.flush(files)
    assert [e[:2] for e in events] == [("fsync", "file"), ("fsync", "folder")] * 2
    events.clear()
    disk.flush(files)  # once is enough
    assert events == []


def test_a_folder_that_refuses_fsync_does_not_fail_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradlab.io

    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # as some network and FUSE file systems answer
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        real_fsync(fd)

    monkeypatch.setattr(gradlab.io.os, "fsync", fsync)
    target = write_text(tmp_path / "report.html", "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_folder_that_cannot_be_opened_does_not_fail_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradlab.io

    real_open = os.open

    def open_files_only(path: Any, flags: int, mode: int = 0o777) -> int:  # as on Windows
        if Path(path).is_dir():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_open(path, flags, mode)

    monkeypatch.setattr(gradlab.io.os, "open", open_files_only)
    target = write_text(tmp_path / "report.html", "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
