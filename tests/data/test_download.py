"""fetch(): cache hits, mirrors that fail in each way, checksums, no partial files."""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gradlab.data import download
from gradlab.data.download import ProgressBar, default_cache_dir, fetch, fetch_all
from gradlab.errors import DownloadError, ExitStatus, ResourceError, UsageError

from .conftest import FileServer

if sys.platform != "win32":
    import fcntl

NAME = "train-labels-idx1-ubyte.gz"
BODY = b"\x1f\x8b" + bytes(range(256)) * 40
SHA256 = hashlib.sha256(BODY).hexdigest()
MD5 = hashlib.md5(BODY).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Names of the temporary files left in ``folder``."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_good_file_is_downloaded_and_verified(file_server: FileServer, tmp_path: Path) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    log: list[str] = []
    path = fetch(NAME, mirrors=[mirror], sha256=SHA256, md5=MD5, cache_dir=tmp_path, log=log.append)
    assert path == tmp_path / NAME
    assert path.read_bytes() == BODY
    assert log == [f"downloading {mirror}{NAME}"]
    assert leftovers(tmp_path) == []


def test_mirror_without_trailing_slash_still_works(file_server: FileServer, tmp_path: Path) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    path = fetch(NAME, mirrors=[mirror.rstrip("/")], md5=MD5, cache_dir=tmp_path, log=print)
    assert path.read_bytes() == BODY


def test_verified_cached_file_is_returned_without_a_request(
    file_server: FileServer, tmp_path: Path
) -> None:
    (tmp_path / NAME).write_bytes(BODY)
    log: list[str] = []
    path = fetch(
        NAME, mirrors=[file_server.mirror("a")], md5=MD5, cache_dir=tmp_path, log=log.append
    )
    assert path.read_bytes() == BODY
    assert file_server.requests == []
    assert log == []


def test_corrupt_cached_file_is_moved_aside_and_downloaded_again(
    file_server: FileServer, tmp_path: Path
) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    (tmp_path / NAME).write_bytes(b"junk")
    log: list[str] = []
    path = fetch(NAME, mirrors=[mirror], sha256=SHA256, cache_dir=tmp_path, log=log.append)
    assert path.read_bytes() == BODY
    assert log[0] == (
        f"checksum mismatch for cached {tmp_path / NAME}: expected sha256 {SHA256}, got "
        f"{hashlib.sha256(b'junk').hexdigest()}; moved aside to {NAME}.rejected, downloading "
        "the published file"
    )
    assert (tmp_path / f"{NAME}.rejected").read_bytes() == b"junk"


def published_gz() -> bytes:
    """A gzip file as published, and what a user's own copy of the same data looks like."""
    return gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x03abc", mtime=0)


def test_a_copy_put_into_the_cache_by_hand_is_kept_when_offline_and_the_hint_says_what_to_do(
    closed_port_mirror: str, tmp_path: Path
) -> None:
    """The same data compressed again is not the published file: it was deleted, and the
    hint sent the user back to put it there again, to lose it again."""
    published = published_gz()
    own = gzip.compress(gzip.decompress(published), mtime=1)
    (tmp_path / "f.gz").write_bytes(own)
    md5 = hashlib.md5(published).hexdigest()
    log: list[str] = []
    with pytest.raises(DownloadError) as caught:
        fetch("f.gz", mirrors=[closed_port_mirror], md5=md5, size=len(published),
              cache_dir=tmp_path, log=log.append)  # fmt: skip
    assert not (tmp_path / "f.gz").exists()
    assert (tmp_path / "f.gz.rejected").read_bytes() == own
    assert log[0] == (
        f"checksum mismatch for cached {tmp_path / 'f.gz'}: expected md5 {md5}, got "
        f"{hashlib.md5(own).hexdigest()}; moved aside to f.gz.rejected, downloading the "
        "published file"
    )
    assert caught.value.hint == (
        f"{tmp_path}/ holds copies that are not the published files: f.gz.rejected. To read "
        f"them as they are, pass --data-dir {tmp_path} (rename f.gz.rejected back without "
        ".rejected first).\n"
        f"Download f.gz by hand (from a mirror that works for you) and put it into {tmp_path}/ "
        "unchanged: it must be the published file, byte for byte:\n"
        f"  f.gz: {len(published)} bytes, MD5 {md5}\n"
        "A file that differs (compressed again, say) is moved aside as <name>.rejected. Copies "
        "of your own, raw or .gz, are read as they are with --data-dir DIR (the folder that "
        "holds them)."
    )
    assert caught.value.exit_status == ExitStatus.DOWNLOAD


def test_a_raw_copy_in_the_cache_is_named_in_the_hint_with_data_dir(
    closed_port_mirror: str, tmp_path: Path
) -> None:
    """An uncompressed file beside where the .gz goes was passed over without a word."""
    (tmp_path / "f").write_bytes(gzip.decompress(published_gz()))
    with pytest.raises(DownloadError) as caught:
        fetch("f.gz", mirrors=[closed_port_mirror], md5=MD5, cache_dir=tmp_path,
              log=lambda line: None)  # fmt: skip
    assert (caught.value.hint or "").startswith(
        f"{tmp_path}/ holds copies that are not the published files: f. To read them as they "
        f"are, pass --data-dir {tmp_path}.\nDownload f.gz by hand"
    )
    assert (tmp_path / "f").exists()


def test_bad_checksum_deletes_the_file_and_falls_through_to_the_next_mirror(
    file_server: FileServer, tmp_path: Path
) -> None:
    bad, good = file_server.mirror("bad"), file_server.mirror("good")
    wrong = b"\x1f\x8b wrong bytes"
    file_server.serve(bad, NAME, wrong)
    file_server.serve(good, NAME, BODY)
    log: list[str] = []
    path = fetch(NAME, mirrors=[bad, good], md5=MD5, cache_dir=tmp_path, log=log.append)
    assert path.read_bytes() == BODY
    assert (
        f"checksum mismatch for {NAME} from {bad}: expected md5 {MD5}, "
        f"got {hashlib.md5(wrong).hexdigest()}; file deleted; trying the next mirror"
    ) in log
    assert file_server.requests == [f"/bad/{NAME}", f"/good/{NAME}"]


def test_refused_connection_falls_through_to_the_next_mirror(
    file_server: FileServer, closed_port_mirror: str, tmp_path: Path
) -> None:
    good = file_server.mirror("good")
    file_server.serve(good, NAME, BODY)
    log: list[str] = []
    path = fetch(
        NAME, mirrors=[closed_port_mirror, good], md5=MD5, cache_dir=tmp_path, log=log.append
    )
    assert path.read_bytes() == BODY
    assert any(line.startswith(f"{closed_port_mirror}{NAME}: cannot connect") for line in log)


def test_a_mirror_that_cannot_be_reached_is_tried_last_for_the_other_files(
    file_server: FileServer, closed_port_mirror: str, tmp_path: Path
) -> None:
    """A dead first mirror cost its full timeout once for each of MNIST's four files."""
    good = file_server.mirror("good")
    names = [f"f{i}.gz" for i in range(3)]
    for name in names:
        file_server.serve(good, name, BODY)
    log: list[str] = []
    paths = fetch_all(names, mirrors=[closed_port_mirror, good], md5=dict.fromkeys(names, MD5),
                      sizes=dict.fromkeys(names, len(BODY)), cache_dir=tmp_path,
                      log=log.append)  # fmt: skip
    assert [paths[name].read_bytes() for name in names] == [BODY] * 3
    assert [line for line in log if line.startswith("downloading")] == [
        f"downloading {closed_port_mirror}f0.gz",
        f"downloading {good}f0.gz",
        f"downloading {good}f1.gz",
        f"downloading {good}f2.gz",
    ]


def test_a_mirror_that_fails_otherwise_keeps_its_place(
    file_server: FileServer, tmp_path: Path
) -> None:
    empty, good = file_server.mirror("empty"), file_server.mirror("good")
    names = ["f0.gz", "f1.gz"]
    for name in names:
        file_server.serve(good, name, BODY)
    fetch_all(names, mirrors=[empty, good], md5=dict.fromkeys(names, MD5),
              sizes=dict.fromkeys(names, len(BODY)), cache_dir=tmp_path,
              log=lambda line: None)  # fmt: skip
    assert file_server.requests == ["/empty/f0.gz", "/good/f0.gz", "/empty/f1.gz", "/good/f1.gz"]


def test_http_404_falls_through_to_the_next_mirror(file_server: FileServer, tmp_path: Path) -> None:
    empty, good = file_server.mirror("empty"), file_server.mirror("good")
    file_server.serve(good, NAME, BODY)
    log: list[str] = []
    fetch(NAME, mirrors=[empty, good], md5=MD5, cache_dir=tmp_path, log=log.append)
    assert f"{empty}{NAME}: HTTP error 404 Not Found; trying the next mirror" in log


def test_truncated_download_falls_through_to_the_next_mirror(
    file_server: FileServer, tmp_path: Path
) -> None:
    short, good = file_server.mirror("short"), file_server.mirror("good")
    file_server.serve(short, NAME, BODY, truncate=1000)
    file_server.serve(good, NAME, BODY)
    log: list[str] = []
    path = fetch(NAME, mirrors=[short, good], md5=MD5, cache_dir=tmp_path, log=log.append)
    assert path.read_bytes() == BODY
    assert (
        f"{short}{NAME}: connection closed after 1000 of {len(BODY)} bytes; trying the next mirror"
    ) in log
    assert leftovers(tmp_path) == []


def test_silent_mirror_times_out(file_server: FileServer, tmp_path: Path) -> None:
    slow = file_server.mirror("slow")
    file_server.serve(slow, NAME, BODY, delay=0.6)
    with pytest.raises(DownloadError, match=r"(no data within 0\.1 s|timed out)"):
        fetch(NAME, mirrors=[slow], md5=MD5, cache_dir=tmp_path, timeout=0.1, log=print)


def test_when_all_mirrors_fail_the_error_names_each_and_tells_how_to_place_the_file(
    file_server: FileServer, closed_port_mirror: str, tmp_path: Path
) -> None:
    bad, short = file_server.mirror("bad"), file_server.mirror("short")
    file_server.serve(bad, NAME, b"wrong")
    file_server.serve(short, NAME, BODY, truncate=10)
    mirrors = [closed_port_mirror, file_server.mirror("empty"), bad, short]
    with pytest.raises(DownloadError, match=f"could not download {NAME} from any mirror") as caught:
        fetch(NAME, mirrors=mirrors, md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    text = str(caught.value)
    assert text.startswith(f"could not download {NAME} from any mirror:")
    assert f"{closed_port_mirror}{NAME}: cannot connect" in text
    assert f"{file_server.mirror('empty')}{NAME}: HTTP error 404" in text
    assert f"checksum mismatch for {NAME} from {bad}" in text
    assert f"{short}{NAME}: connection closed after 10 of {len(BODY)} bytes" in text
    assert f"Download {NAME} by hand" in text
    assert f"put it into {tmp_path}/" in text
    assert "--data-dir DIR" in text
    assert caught.value.exit_status == ExitStatus.DOWNLOAD
    assert list(tmp_path.iterdir()) == []


def test_a_given_hint_replaces_the_default_one(closed_port_mirror: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="use the USB stick"):
        fetch(
            NAME,
            mirrors=[closed_port_mirror],
            md5=MD5,
            cache_dir=tmp_path,
            log=lambda line: None,
            hint="use the USB stick",
        )


CACHE_HINT = (
    "Pass --cache-dir DIR, or set GRADLAB_DATA, to a folder you can write to "
    "(it is created when missing)."
)


@pytest.mark.parametrize("inside", [False, True])
def test_a_cache_folder_that_is_a_file_names_the_cache_options_not_out(
    file_server: FileServer, tmp_path: Path, inside: bool
) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    folder = a_file / "mnist" if inside else a_file
    with pytest.raises(UsageError) as caught:
        fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=folder, log=lambda line: None)
    where = f"is inside {a_file}, which is a file" if inside else "is a file"
    assert str(caught.value) == f"the cache folder {folder} {where}, not a folder\n{CACHE_HINT}"
    assert "--out" not in str(caught.value)
    assert caught.value.exit_status == ExitStatus.USAGE
    assert file_server.requests == []
    assert a_file.read_text() == "x"


@pytest.mark.parametrize("where", ["download", "atomic write"])
def test_a_full_disk_under_the_cache_is_a_resource_error_naming_the_cache_options(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Exit status 5, as for any full disk; it was a DownloadError (4), and through
    atomic_path its message held another message and the --out hint."""
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == "download":
        monkeypatch.setattr(download, "_download", disk_full)
    else:
        monkeypatch.setattr(os, "fsync", disk_full)  # as atomic_path finishes the file
    with pytest.raises(ResourceError) as caught:
        fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    assert caught.value.message == (
        f"cannot write {NAME} into the cache folder {tmp_path}: No space left on device."
    )
    assert caught.value.hint == (
        "Free some disk space, or keep the data sets on another disk (--cache-dir DIR, or "
        "GRADLAB_DATA)."
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["folder", "pipe"])
def test_a_folder_or_pipe_where_the_cached_file_goes_is_named_with_its_full_path(
    file_server: FileServer, tmp_path: Path, kind: str
) -> None:
    """It read "cannot write NAME into the cache folder DIR: it is a folder", as if the cache
    folder were the problem; and only after the file was downloaded."""
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    if kind == "folder":
        (tmp_path / NAME).mkdir()
    else:
        os.mkfifo(tmp_path / NAME)
    with pytest.raises(UsageError) as caught:
        fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    what = "a folder" if kind == "folder" else "not a regular file (a device, pipe or socket)"
    assert str(caught.value) == (
        f"{tmp_path / NAME} is {what}, where the cache keeps the file {NAME}.\n"
        f"Remove {tmp_path / NAME} (or move it away), or pass --cache-dir DIR, or set "
        "GRADLAB_DATA, to a folder you can write to (it is created when missing)."
    )
    assert file_server.requests == []


def test_a_temporary_file_that_cannot_be_created_is_reported_without_out(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)

    real_open = os.open

    def refuse_part_files(path: str, flags: int, mode: int = 0o777) -> int:
        if str(path).endswith(".part"):  # how atomic_path makes its file
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", refuse_part_files)
    with pytest.raises(UsageError) as caught:
        fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    assert str(caught.value) == (
        f"cannot write {NAME} into the cache folder {tmp_path}: Permission denied.\n" + CACHE_HINT
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_a_cache_folder_that_cannot_be_created_is_a_usage_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(UsageError) as caught:
        fetch(NAME, mirrors=["http://127.0.0.1:9/"], md5=MD5, cache_dir=locked / "c")
    assert str(caught.value) == (
        f"cannot create the cache folder {locked / 'c'}: Permission denied\n{CACHE_HINT}"
    )


def test_a_good_cached_file_in_a_folder_we_cannot_write_is_still_used(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / NAME).write_bytes(BODY)
    monkeypatch.setattr(download, "_make_cache_folder", lambda folder: pytest.fail("mkdir"))
    assert fetch(NAME, mirrors=[file_server.mirror("a")], md5=MD5, cache_dir=tmp_path) == (
        tmp_path / NAME
    )


def test_progress_bar_is_drawn_on_stderr_when_asked(
    file_server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, progress=True, log=lambda s: None)
    err = capsys.readouterr().err
    assert f"\r{NAME} [{'#' * ProgressBar.width}] 100%" in err
    assert err.endswith("MB\n")


def test_no_progress_bar_when_switched_off(
    file_server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, progress=False)
    assert capsys.readouterr().err == f"downloading {mirror}{NAME}\n"


def test_progress_bar_without_a_known_size_shows_megabytes() -> None:
    stream = io.StringIO()
    bar = ProgressBar("f.gz", None, stream)
    bar.update(2_500_000)
    bar.close()
    assert stream.getvalue().endswith("\rf.gz 2.5 MB\n")


def test_malformed_checksum_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"the md5 checksum given for {NAME} is 'abc'"):
        fetch(NAME, mirrors=["http://127.0.0.1:9/"], md5="abc", cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("filename", "problem"),
    [
        ("../secret.gz", "it leads out of the cache folder"),
        ("sub/../../secret.gz", "it leads out of the cache folder"),
        ("..", "it names a folder, not a file"),
        (".", "it names a folder, not a file"),
        ("/etc/passwd", "it is an absolute path"),
        ("C:\\Windows\\x.gz", "it is an absolute path"),
        ("mnist/train.gz", "it has a folder part"),
        ("mnist\\train.gz", "it has a folder part"),
        ("C:train.gz", "it has a folder part"),
        ("", "it is empty"),
        ("a\x00b.gz", "it has control characters"),
    ],
)
def test_a_file_name_that_is_not_a_plain_name_is_refused_before_any_file_is_touched(
    file_server: FileServer, tmp_path: Path, filename: str, problem: str
) -> None:
    cache = tmp_path / "cache" / "mnist"
    cache.mkdir(parents=True)
    (tmp_path / "cache" / "secret.gz").write_bytes(BODY)  # what "../secret.gz" would reach
    mirror = file_server.mirror("a")
    with pytest.raises(UsageError) as caught:
        fetch(filename, mirrors=[mirror], cache_dir=cache, log=lambda line: None)
    assert str(caught.value) == (
        f"fetch: the file name {filename!r} is not a plain file name ({problem}); give the name "
        "alone (such as 'train-images-idx3-ubyte.gz') and the folder as cache_dir"
    )
    assert file_server.requests == []
    assert list(cache.iterdir()) == []


def test_a_plain_name_with_dots_inside_is_accepted(file_server: FileServer, tmp_path: Path) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, "t10k..labels.gz", BODY)
    path = fetch("t10k..labels.gz", mirrors=[mirror], md5=MD5, cache_dir=tmp_path, log=print)
    assert path == tmp_path / "t10k..labels.gz"


def test_no_mirrors_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"no mirrors given to download {NAME}"):
        fetch(NAME, mirrors=[], md5=MD5, cache_dir=tmp_path)


def test_cache_dir_comes_from_gradlab_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRADLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "data"


def test_cache_dir_falls_back_to_xdg_cache_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GRADLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "gradlab"


def test_cache_dir_falls_back_to_home_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GRADLAB_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "gradlab"


@pytest.mark.skipif(sys.platform == "win32", reason="no password database")
@pytest.mark.parametrize("data", [None, "~/data"])
def test_no_home_directory_is_a_usage_error_naming_the_cache_options(
    monkeypatch: pytest.MonkeyPatch, data: str | None
) -> None:
    """A uid without a passwd entry and no HOME (a container's --user): Path.home() raised
    RuntimeError, a traceback with exit status 1."""
    import pwd

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    if data is None:
        monkeypatch.delenv("GRADLAB_DATA", raising=False)
    else:
        monkeypatch.setenv("GRADLAB_DATA", data)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    with pytest.raises(UsageError) as caught:
        default_cache_dir()
    assert str(caught.value) == (
        "cannot find the folder to keep downloaded data sets in: it lies in the home directory, "
        f"and there is none (HOME is not set, and the user id {os.getuid()} has no home in the "
        f"password database).\n{CACHE_HINT}"
    )
    assert caught.value.exit_status == ExitStatus.USAGE


# --- temporary files left by interrupted downloads -------------------------------------------


def test_a_download_killed_midway_leaves_a_temporary_file_that_the_next_run_deletes(
    file_server: FileServer, tmp_path: Path
) -> None:
    slow, good = file_server.mirror("slow"), file_server.mirror("good")
    big = bytes(range(256)) * 4096  # 1 MiB, sent in 16 KiB pieces every 0.1 s
    file_server.serve(slow, NAME, big, pace=0.1, chunk=1 << 14)
    file_server.serve(good, NAME, BODY)
    code = (
        "import sys; from pathlib import Path; from gradlab.data.download import fetch\n"
        f"fetch({NAME!r}, mirrors=[{slow!r}], md5={MD5!r}, cache_dir=Path(sys.argv[1]),"
        " log=lambda line: None)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size for p in tmp_path.glob("*.part")):
            assert child.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.02)
    finally:
        child.kill()
        child.wait()
    [leftover] = leftovers(tmp_path)
    log: list[str] = []
    path = fetch(NAME, mirrors=[good], md5=MD5, cache_dir=tmp_path, log=log.append)
    assert path.read_bytes() == BODY
    assert log[0] == f"deleted {tmp_path / leftover}, left by an interrupted download"
    assert leftovers(tmp_path) == []


def test_a_leftover_is_never_trusted_even_when_it_holds_the_right_bytes(
    file_server: FileServer, tmp_path: Path
) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    (tmp_path / f".{NAME}.x1y2z3.part").write_bytes(BODY)
    (tmp_path / f".{NAME}.q9.part").write_bytes(BODY[:100])
    (tmp_path / ".other.gz.a1.part").write_bytes(b"another file's")  # not ours to delete
    log: list[str] = []
    fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, log=log.append)
    assert file_server.requests == [f"/a/{NAME}"]  # downloaded afresh
    assert sorted(log[:2]) == sorted(
        f"deleted {tmp_path / name}, left by an interrupted download"
        for name in (f".{NAME}.x1y2z3.part", f".{NAME}.q9.part")
    )
    assert leftovers(tmp_path) == [".other.gz.a1.part"]


def test_a_cache_hit_also_clears_leftovers(file_server: FileServer, tmp_path: Path) -> None:
    (tmp_path / NAME).write_bytes(BODY)
    (tmp_path / f".{NAME}.abc.part").write_bytes(b"half")
    fetch(NAME, mirrors=[file_server.mirror("a")], md5=MD5, cache_dir=tmp_path, log=print)
    assert file_server.requests == []
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="no flock")
def test_a_live_download_in_another_process_is_waited_for_and_its_file_left_alone(
    file_server: FileServer, tmp_path: Path
) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    live = tmp_path / f".{NAME}.live.part"
    live.write_bytes(b"being written")
    log: list[str] = []
    fd = os.open(tmp_path, os.O_RDONLY)  # the other process's lock on the folder
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        worker = threading.Thread(
            target=fetch,
            args=(NAME,),
            kwargs={"mirrors": [mirror], "md5": MD5, "cache_dir": tmp_path, "log": log.append},
        )
        worker.start()
        deadline = time.monotonic() + 10
        while not log and time.monotonic() < deadline:
            time.sleep(0.01)
        assert log == [f"waiting for another gradlab process that is downloading into {tmp_path}"]
        assert live.exists()
        assert file_server.requests == []
    finally:
        os.close(fd)  # the other process ends
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert log[1] == f"deleted {live}, left by an interrupted download"
    assert (tmp_path / NAME).read_bytes() == BODY


def test_without_a_lock_only_old_leftovers_are_deleted(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextlib.contextmanager
    def no_lock(folder: Path, log: object) -> Iterator[bool]:
        yield False

    monkeypatch.setattr(download, "_folder_lock", no_lock)
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    young, old = tmp_path / f".{NAME}.young.part", tmp_path / f".{NAME}.old.part"
    young.write_bytes(b"maybe being written")
    old.write_bytes(b"long dead")
    past = time.time() - download.LEFTOVER_AGE - 60
    os.utime(old, (past, past))
    fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    assert leftovers(tmp_path) == [young.name]


# --- size caps and deadlines -----------------------------------------------------------------


def test_an_endless_body_is_cut_off_one_byte_past_the_files_size(
    file_server: FileServer, tmp_path: Path
) -> None:
    endless, good = file_server.mirror("endless"), file_server.mirror("good")
    file_server.serve(endless, NAME, BODY, endless=True)  # no length, then zeros for ever
    file_server.serve(good, NAME, BODY)
    log: list[str] = []
    path = fetch(NAME, mirrors=[endless, good], md5=MD5, size=len(BODY), cache_dir=tmp_path,
                 log=log.append)  # fmt: skip
    assert path.read_bytes() == BODY
    assert (
        f"{endless}{NAME}: sent more than the {len(BODY)} bytes the file has; stopped; "
        "trying the next mirror"
    ) in log
    assert leftovers(tmp_path) == []


def test_without_a_size_an_endless_body_is_cut_off_at_the_general_cap(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "MAX_UNKNOWN_SIZE", 200_000)
    endless = file_server.mirror("endless")
    file_server.serve(endless, NAME, b"", endless=True)
    with pytest.raises(DownloadError) as caught:
        fetch(NAME, mirrors=[endless], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    assert f"  {endless}{NAME}: sent more than the 200000 bytes are accepted; stopped\n" in str(
        caught.value
    )
    assert list(tmp_path.iterdir()) == []


def test_an_announced_length_other_than_the_size_is_refused_before_the_body(
    file_server: FileServer, tmp_path: Path
) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY + b"extra")
    with pytest.raises(DownloadError) as caught:
        fetch(NAME, mirrors=[mirror], size=len(BODY), cache_dir=tmp_path, log=lambda line: None)
    assert (
        f"{mirror}{NAME}: announces {len(BODY) + 5} bytes, but the file has {len(BODY)}; "
        "not downloaded"
    ) in str(caught.value)


def test_an_announced_length_over_the_general_cap_is_refused(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "MAX_UNKNOWN_SIZE", 1000)
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    with pytest.raises(DownloadError) as caught:
        fetch(NAME, mirrors=[mirror], cache_dir=tmp_path, log=lambda line: None)
    assert (
        f"{mirror}{NAME}: announces {len(BODY)} bytes, more than the 1000 accepted; not downloaded"
    ) in str(caught.value)


def test_a_server_that_trickles_is_cut_off_at_the_deadline_and_the_next_mirror_tried(
    file_server: FileServer, tmp_path: Path
) -> None:
    trickle, good = file_server.mirror("trickle"), file_server.mirror("good")
    file_server.serve(trickle, NAME, BODY, pace=0.1, chunk=1)  # each byte well within the timeout
    file_server.serve(good, NAME, BODY)
    log: list[str] = []
    path = fetch(NAME, mirrors=[trickle, good], md5=MD5, size=len(BODY), cache_dir=tmp_path,
                 timeout=5, deadline=0.6, log=log.append)  # fmt: skip
    assert path.read_bytes() == BODY
    pattern = (
        re.escape(f"{trickle}{NAME}: not complete within the deadline of 0.6 s (")
        + rf"\d+ of {len(BODY)} bytes received\); stopped; trying the next mirror"
    )
    assert any(re.fullmatch(pattern, line) for line in log), log
    assert leftovers(tmp_path) == []


def test_the_deadline_also_cuts_a_server_that_never_sends_its_headers(
    file_server: FileServer, tmp_path: Path
) -> None:
    silent = file_server.mirror("silent")
    file_server.serve(silent, NAME, BODY, delay=5)  # answers after the deadline, within timeout
    with pytest.raises(DownloadError) as caught:
        fetch(NAME, mirrors=[silent], size=len(BODY), cache_dir=tmp_path, timeout=10,
              deadline=0.3, log=lambda line: None)  # fmt: skip
    assert (
        f"{silent}{NAME}: not complete within the deadline of 0.3 s "
        f"(0 of {len(BODY)} bytes received); stopped"
    ) in str(caught.value)


def test_a_cached_file_of_the_wrong_size_is_moved_aside_without_being_read(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    (tmp_path / NAME).write_bytes(BODY + b"\x00")
    hashed: list[Path] = []
    real_hash_file = download._hash_file
    monkeypatch.setattr(
        download,
        "_hash_file",
        lambda path, expected: hashed.append(path) or real_hash_file(path, expected),
    )
    log: list[str] = []
    fetch(NAME, mirrors=[mirror], md5=MD5, size=len(BODY), cache_dir=tmp_path, log=log.append)
    assert log[0] == (
        f"wrong size for cached {tmp_path / NAME}: expected {len(BODY)} bytes, found "
        f"{len(BODY) + 1}; moved aside to {NAME}.rejected, downloading the published file"
    )
    assert hashed == []
    assert (tmp_path / NAME).read_bytes() == BODY
    assert (tmp_path / f"{NAME}.rejected").read_bytes() == BODY + b"\x00"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "fetch: size must be an integer >= 1 or None; got 0."),
        ({"size": 1.5}, "fetch: size must be an integer >= 1 or None; got 1.5."),
        ({"deadline": 0}, "fetch: deadline must be a number > 0 or None; got 0."),
        ({"timeout": -1}, "fetch: timeout must be a number > 0; got -1."),
    ],
)
def test_bad_limits_are_usage_errors(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        fetch(NAME, mirrors=["http://127.0.0.1:9/"], md5=MD5, cache_dir=tmp_path, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_the_default_deadline_grows_with_the_size() -> None:
    assert download._default_deadline(None) == download.UNKNOWN_SIZE_DEADLINE
    small, large = download._default_deadline(4542), download._default_deadline(26421880)
    assert download.DEADLINE_BASE < small < large
    assert large == download.DEADLINE_BASE + 26421880 / download.MIN_RATE


def test_a_damaged_cached_file_that_cannot_be_moved_aside_says_so(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only cache: the OSError reached library callers raw."""
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    (tmp_path / NAME).write_bytes(b"short")

    def read_only(src: object, dst: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(UsageError) as caught:
        fetch(NAME, mirrors=[mirror], md5=MD5, size=len(BODY), cache_dir=tmp_path,
              log=lambda line: None)  # fmt: skip
    assert caught.value.message == (
        f"wrong size for cached {tmp_path / NAME}: expected {len(BODY)} bytes, found 5, and it "
        f"cannot be moved aside to {NAME}.rejected (Read-only file system)."
    )
    assert (caught.value.hint or "").startswith(
        f"Move or delete {tmp_path / NAME} yourself, or pass "
    )
    assert file_server.requests == []


# --- symbolic links where the cached file goes -----------------------------------------------


def test_a_dangling_link_in_the_cache_is_moved_aside_and_the_download_stays_inside(
    file_server: FileServer, tmp_path: Path
) -> None:
    """The atomic write followed the link and wrote the download wherever it pointed."""
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    cache, outside = tmp_path / "cache", tmp_path / "outside" / "elsewhere.gz"
    cache.mkdir()
    outside.parent.mkdir()
    (cache / NAME).symlink_to(outside)
    log: list[str] = []
    path = fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=cache, log=log.append)
    assert path == cache / NAME
    assert not path.is_symlink()
    assert path.read_bytes() == BODY
    assert not outside.exists()
    assert (cache / f"{NAME}.rejected").is_symlink()
    assert log[0] == (
        f"cached {cache / NAME} (a symbolic link to {outside}) leads to no file; moved aside to "
        f"{NAME}.rejected, downloading the published file"
    )


def test_a_link_to_a_wrong_file_is_moved_aside_and_its_target_left_alone(
    file_server: FileServer, tmp_path: Path
) -> None:
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY)
    cache, outside = tmp_path / "cache", tmp_path / "mine.gz"
    cache.mkdir()
    outside.write_bytes(b"my own data")
    (cache / NAME).symlink_to(outside)
    log: list[str] = []
    path = fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=cache, log=log.append)
    assert not path.is_symlink()
    assert path.read_bytes() == BODY
    assert outside.read_bytes() == b"my own data"
    assert log[0].startswith(
        f"checksum mismatch for cached {cache / NAME} (a symbolic link to {outside}): expected md5"
    )


def test_a_link_to_the_right_file_is_read_through(file_server: FileServer, tmp_path: Path) -> None:
    cache, shared = tmp_path / "cache", tmp_path / "shared.gz"
    cache.mkdir()
    shared.write_bytes(BODY)
    (cache / NAME).symlink_to(shared)
    path = fetch(NAME, mirrors=[file_server.mirror("a")], md5=MD5, cache_dir=cache, log=print)
    assert path.is_symlink()
    assert path.read_bytes() == BODY
    assert file_server.requests == []


def test_a_servers_control_characters_reach_the_message_escaped(
    file_server: FileServer, tmp_path: Path
) -> None:
    """A status line is the server's text: shown raw, it could clear the user's screen."""
    evil = file_server.mirror("evil")
    file_server.serve(evil, NAME, b"", status=404, reason="\x1b[2J\x1b[31mall good")
    with pytest.raises(DownloadError) as caught:
        fetch(NAME, mirrors=[evil], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    assert "\x1b" not in str(caught.value)
    assert f"{evil}{NAME}: HTTP error 404 \\x1b[2J\\x1b[31mall good" in str(caught.value)


@pytest.mark.parametrize("mirrors", ["http://127.0.0.1:9/", [None], b"http://x/"])
def test_mirrors_must_be_a_list_of_urls(tmp_path: Path, mirrors: object) -> None:
    """A string was taken one character at a time, as 19 "mirrors"."""
    with pytest.raises(UsageError, match=r"fetch: mirrors must be a list of base URLs \(strings\)"):
        fetch(NAME, mirrors=mirrors, md5=MD5, cache_dir=tmp_path)  # type: ignore[arg-type]


# --- what a mirror may answer ----------------------------------------------------------------


def test_a_redirect_to_ftp_is_not_followed(file_server: FileServer, tmp_path: Path) -> None:
    """urllib's default opener follows ftp:// redirects, with a handler the watchdog does not
    see (no deadline)."""
    mirror = file_server.mirror("a")
    target = f"ftp://127.0.0.1:9/{NAME}"
    file_server.serve(mirror, NAME, b"", status=302, headers=(("Location", target),))
    with pytest.raises(DownloadError) as caught:
        fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    assert (
        f"  {mirror}{NAME}: redirected to {target}, which is not an http:// or https:// URL; "
        "not followed\n"
    ) in str(caught.value)


def test_a_redirect_to_http_is_followed(file_server: FileServer, tmp_path: Path) -> None:
    old, new = file_server.mirror("old"), file_server.mirror("new")
    file_server.serve(old, NAME, b"", status=301, headers=(("Location", f"{new}{NAME}"),))
    file_server.serve(new, NAME, BODY)
    path = fetch(NAME, mirrors=[old], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    assert path.read_bytes() == BODY
    assert file_server.requests == [f"/old/{NAME}", f"/new/{NAME}"]


def test_a_redirect_loop_says_too_many_redirects(file_server: FileServer, tmp_path: Path) -> None:
    """The message held urllib's two lines, its newlines shown as literal backslash-n."""
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, b"", status=302, headers=(("Location", f"{mirror}{NAME}"),))
    with pytest.raises(DownloadError) as caught:
        fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    assert (
        f"  {mirror}{NAME}: too many redirects (a loop, or more than 10); stopped at "
        f"{mirror}{NAME}\n"
    ) in str(caught.value)
    assert "\\n" not in str(caught.value)


def test_a_server_that_does_not_speak_http_is_named_as_such(
    raw_reply: Callable[[bytes], str], tmp_path: Path
) -> None:
    """It read "connection failed: SSH-2.0-OpenSSH_9.6"."""
    mirror = raw_reply(b"SSH-2.0-OpenSSH_9.6\r\n")
    with pytest.raises(DownloadError) as caught:
        fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    assert (
        f"  {mirror}{NAME}: the server did not answer in HTTP (its reply began "
        "'SSH-2.0-OpenSSH_9.6'); check the URL's host, port and http/https\n"
    ) in str(caught.value)


def test_a_content_length_of_unicode_digits_is_taken_as_no_length(
    file_server: FileServer, tmp_path: Path
) -> None:
    """ "²".isdigit() is True, and int("²") raised: the download failed as "connection failed"."""
    mirror = file_server.mirror("a")
    file_server.serve(mirror, NAME, BODY, headers=(("Content-Length", "\u00b2"),))
    path = fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    assert path.read_bytes() == BODY


@pytest.mark.parametrize("mirror", ["ftp://127.0.0.1/mnist/", "file:///tmp/", "127.0.0.1/mnist/"])
def test_a_mirror_that_is_not_an_http_url_is_refused(tmp_path: Path, mirror: str) -> None:
    with pytest.raises(UsageError) as caught:
        fetch(NAME, mirrors=[mirror], md5=MD5, cache_dir=tmp_path, log=lambda line: None)
    assert str(caught.value) == (
        f"fetch: the mirror {mirror!r} is not an http:// or https:// URL; give base URLs such "
        "as 'https://example.org/mnist/'"
    )
    assert list(tmp_path.iterdir()) == []
