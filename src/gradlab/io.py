"""Output files and folders: atomic writes, early checks, one run per folder.

- :func:`atomic_path` (and :func:`write_bytes`, :func:`write_text`, :func:`write_json`):
  a file is either complete or absent, never half-written; a write that fails part-way
  (disk full, a read-only file system, a folder in the way) raises a
  :class:`~gradlab.errors.ResourceError` naming the file, and the old file stays.
- :class:`DiskSync`: a run that rewrites its files every epoch waits for the disk only
  every few seconds (:func:`sync` flushes the last write at the end).
- :func:`check_out_dir`: a bad ``--out`` is reported before any work is done.
- :func:`run_lock`: two runs writing into the same folder at once would overwrite each
  other's files; the second is refused. Temporary files left there by a killed run are
  removed when the next run takes the folder.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from gradlab.errors import GradlabError, ResourceError, UsageError

#: Suffix of the temporary files :func:`atomic_path` writes beside their target.
PART_SUFFIX = ".part"
#: Name of the lock file :func:`run_lock` keeps in an output folder.
LOCK_NAME = ".gradlab.lock"

#: The temporary files of the :func:`atomic_path` blocks under way in this process.
_parts_under_way: set[Path] = set()


def remove_parts_under_way() -> None:
    """Delete the temporary files of the writes under way, for a process that ends
    without unwinding them (:class:`gradlab.process.StopDeadline`)."""
    for part in list(_parts_under_way):
        with contextlib.suppress(OSError):
            part.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    The temporary file lives in the same folder, so the final ``os.replace`` is
    atomic on POSIX and Windows. On any exception (``KeyboardInterrupt`` too) the
    temporary file is removed and ``path`` is left as it was. With ``durable`` (the
    default) the file is flushed to the disk before the rename and the folder after it
    (where the system allows), so that after a crash of the machine or a power cut
    ``path`` holds the old contents or all of the new. Without it the write is as
    atomic for every program (a killed process cannot leave half a file), but the
    disk may not have it yet: :func:`sync` flushes it later.
    """
    target = _writable_target(Path(path))
    tmp: Path | None = None
    made: Path | None = None  # the temporary file, once made (until the block ends)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # The name is chosen before the file is made, so that Ctrl-C or SIGTERM (which
        # raise wherever this thread is) cannot come between the file's creation and
        # the clean-up knowing its name.
        while True:
            tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}{PART_SUFFIX}"
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                break
            except FileExistsError:
                tmp = None  # another file's name: not ours to remove; draw again
        made = tmp
        _parts_under_way.add(made)
        yield tmp
        # the file was made private (0600), as mkstemp makes it; give it the usual
        # permissions
        os.chmod(tmp, 0o666 & ~_umask())
        if durable:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())  # the data reaches the disk before the name points at it
        os.replace(tmp, target)
        tmp = None  # the name is the target's now: nothing of ours to remove
        if durable:
            _fsync_folder(target.parent)  # and the new name survives a power cut
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, GradlabError):
            raise _write_error(target, exc) from None
        raise
    finally:
        if made is not None:
            _parts_under_way.discard(made)


def sync(path: str | os.PathLike[str]) -> None:
    """Flush a file written with ``durable=False`` to the disk, and its folder's entry.

    Best effort, as :func:`atomic_path`'s own flush: a file that is gone by now, or a
    file system that cannot flush, is left as it is.
    """
    target = Path(path)
    if _flush(target):
        _fsync_folder(target.parent)


#: Seconds between the epochs whose files :class:`DiskSync` lets wait for the disk.
SYNC_EVERY = 2.0


class DiskSync:
    """Which of a run's repeated writes of its files also wait for the disk.

    Training replaces its checkpoint and history files after every epoch, atomically:
    a killed process leaves the old files or the new ones, never half of one, whether or
    not the write waited for the disk. Waiting (``fsync``) guards only against a crash
    of the whole machine, and costs milliseconds a file, which is more than a whole
    epoch of a small job (softmax regression on the digits trains an epoch in about a
    millisecond). So the first write waits, and later ones only when ``every`` seconds
    have passed since the last that did: a crash of the machine loses at most those
    seconds of training. The caller flushes the last write with :func:`sync` when
    training ends or stops.

    Parameters
    ----------
    every : float, optional
        Seconds between writes that wait for the disk; by default :data:`SYNC_EVERY`.
    clock : callable, default time.monotonic
    """

    def __init__(
        self, every: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every = SYNC_EVERY if every is None else every
        self.clock = clock
        self.last: float | None = None
        #: Whether the last write was left to the system to flush.
        self.pending = False

    def durable(self) -> bool:
        """Whether the write about to be made should wait for the disk (and note it)."""
        now = self.clock()
        due = self.last is None or now - self.last >= self.every
        if due:
            self.last = now
        self.pending = not due
        return due

    def flush(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """:func:`sync` ``paths`` if the last write did not wait for the disk."""
        if self.pending:
            for path in paths:
                sync(path)
            self.pending = False


def _fsync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries to the disk, so that a rename in it is durable.

    Best effort: where a folder cannot be opened (Windows) or fsynced (some network and
    FUSE file systems), the rename stays atomic, only perhaps not yet on the disk.
    """
    _flush(folder, getattr(os, "O_DIRECTORY", 0))


def _flush(path: Path, flags: int = 0) -> bool:
    """``fsync`` what ``path`` names, opened read-only with ``flags``; False if it could
    not be opened (what cannot be flushed is left as it is)."""
    try:
        fd = os.open(path, os.O_RDONLY | flags)
    except OSError:
        return False
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
    return True


def _what_is_there(target: Path) -> tuple[Path, str]:
    """The file a write to ``target`` replaces (a symbolic link's target: the link stays a
    link) and what it is now: ``"new"``, ``"file"``, ``"folder"``, or ``"other"`` (a
    device, pipe or socket). Raises the OSError of a path that cannot be looked at."""
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    if target.is_dir():
        return target, "folder"
    if not target.exists():
        return target, "new"
    return target, "file" if target.is_file() else "other"


def _writable_target(target: Path) -> Path:
    """The file a write to ``target`` replaces: a symbolic link's target (the link stays a
    link), and only a regular file or a new name, never a folder, device or pipe.

    Raises
    ------
    ResourceError
        ``target`` is a folder (found late: a run that made it meanwhile).
    UsageError
        ``target`` is a device, pipe or socket, or its path cannot be looked at.
    """
    try:
        target, kind = _what_is_there(target)
    except OSError as exc:  # a name too long, a link loop, a folder we may not enter
        raise _write_error(target, exc) from None
    if kind == "folder":
        raise ResourceError(
            f"cannot write {target}: it is a folder.",
            hint="Move the folder away, or choose another output folder (--out DIR).",
        )
    if kind == "other":
        raise UsageError(
            f"cannot write {target}: it is not a regular file (a device, pipe or socket), "
            "which a write would replace.",
            hint="Name a new or a regular file.",
        )
    return target


def _write_error(target: Path, exc: OSError) -> GradlabError:
    """A failed write as an error that names the file and says what to do."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceError(
            f"cannot write {target}: {reason}; the file was left as it was.",
            hint="Free some disk space, or choose an output folder on another disk (--out DIR).",
        )
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return UsageError(
            f"cannot write {target}: a part of that path is a file, not a folder.",
            hint="Choose a folder you can write to (--out DIR).",
        )
    if exc.errno in (errno.ENAMETOOLONG, errno.EACCES, errno.EPERM, errno.EROFS, errno.ELOOP):
        return UsageError(
            f"cannot write {target}: {reason}.",
            hint="Choose a folder you can write to (--out DIR).",
        )
    return ResourceError(f"cannot write {target}: {reason}.")


def os_error(exc: OSError) -> GradlabError:
    """An operating system's error that no code path turned into a message of its own, as
    one that names the file: out of disk space (exit 5), else a path that cannot be used
    as given (exit 2)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f"{exc.filename}: " if exc.filename is not None else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return ResourceError(
            f"{where}{reason}.",
            hint="Free some disk space, or choose an output folder on another disk (--out DIR); "
            "files written before this point are intact.",
        )
    return UsageError(f"{where}{reason}.", hint="Check the path and what is there.")


def check_out_dir(path: str | os.PathLike[str], *, create: bool, option: str = "--out") -> Path:
    """Make sure ``path`` is, or can become, a folder we can write into; fail early.

    Commands call this before loading data or training, so a bad ``--out`` is
    reported at once rather than after an epoch (or a download). With ``create``
    the folder is made now; without it nothing on disk changes.

    Raises
    ------
    UsageError
        ``path`` (or a parent of it) is a file, or the folder cannot be written.
    """
    target = Path(path)
    hint = "Choose a folder you can write to (it is created when missing)."
    existing = target
    try:
        if target.is_symlink() and not target.exists():
            raise UsageError(
                f"{option} {target} is a symbolic link that leads to no folder.",
                hint="Point it at a folder, or choose another path.",
            )
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
    except OSError as exc:  # a name too long, or a parent we may not enter
        raise UsageError(f"{option} {target}: {exc.strerror or exc}.", hint=hint) from None
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == target else f"is inside {existing}, which is a file"
        raise UsageError(f"{option} {target} {where}, not a folder.", hint=hint)
    if create:
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"{option} {target}: cannot create the folder ({exc.strerror or exc}).", hint=hint
            ) from None
        existing = target
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {target}: {existing} is not writable.", hint=hint)
    return target


def check_out_file(path: str | os.PathLike[str], *, option: str) -> Path:
    """Make sure a file can be written at ``path`` (its folder exists and takes a new file);
    fail early, before a long job whose result it is to hold.

    The folder is tried by writing and removing a small file in it, which also catches a
    folder that only ``os.access`` says is writable (``/proc`` for root).

    Raises
    ------
    UsageError
        ``path`` is a folder, or its folder is missing, a file, or cannot be written.
    """
    target = Path(path)
    hint = "Choose a file in a folder you can write to."
    try:
        target, kind = _what_is_there(target)
        folder = target.parent
        has_folder = folder.is_dir()
    except OSError as exc:  # a name too long, a link loop
        raise UsageError(f"{option} {target}: {exc.strerror or exc}.", hint=hint) from None
    if kind == "folder":
        raise UsageError(f"{option} {target} is a folder, not a file.", hint=hint)
    if kind == "other":
        raise UsageError(
            f"{option} {target} is not a regular file (a device, pipe or socket), which "
            "the write would replace.",
            hint="Name a new or a regular file.",
        )
    if not has_folder:
        raise UsageError(f"{option} {target}: no folder {folder} to write it in.", hint=hint)
    probe = folder / f".gradlab-probe-{secrets.token_hex(4)}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"{option} {target}: cannot write in {folder} ({exc.strerror or exc}).", hint=hint
        ) from None
    return target


def check_out_names(
    folder: str | os.PathLike[str], names: Iterable[str], *, option: str = "--out"
) -> None:
    """Refuse to start a run whose output files, by name in ``folder``, could not be
    written: one is a folder, a device, a pipe or a socket. Found at the write, after the
    work, this was an error (exit 5) with the run's other files already written.

    Raises
    ------
    UsageError
        The first such name, and what is there.
    """
    hint = f"Move it away, or choose another output folder ({option} DIR)."
    for name in names:
        path = Path(folder) / name
        try:
            _, kind = _what_is_there(path)
        except OSError:  # a path that cannot be looked at: check_out_dir's to report
            continue
        if kind == "folder":
            raise UsageError(
                f"{option} {folder}: {path} is a folder, where this command writes a file.",
                hint=hint,
            )
        if kind == "other":
            raise UsageError(
                f"{option} {folder}: {path} is not a regular file (a device, pipe or "
                "socket), where this command writes a file.",
                hint=hint,
            )


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike[str], *, option: str = "--out") -> Iterator[Path]:
    """Hold ``folder`` for this run; refuse when another live run holds it.

    The lock is an advisory ``flock`` on ``folder/.gradlab.lock``: the operating system
    drops it when the process ends, however it ends, so a killed run never leaves a
    stale lock. On taking the folder, temporary files that a killed run left there
    (``.*.part``, see :func:`atomic_path`) are deleted: no live run can own them. On
    release the lock file is removed, and so are the folder and the parents this run
    created if it left nothing in them (a run refused for bad input leaves no trace, not
    even an empty ``runs/``).

    Raises
    ------
    UsageError
        Another process holds the folder (the message names its process id).
    """
    import fcntl

    target = Path(folder)
    created = _make_folders(target)  # runs/train makes runs/ too
    try:
        check_out_dir(target, create=True, option=option)  # what could not be made, explained
    except BaseException:
        _remove_empty(created)
        raise
    lock_path = target / LOCK_NAME
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _write_error(lock_path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise UsageError(
                f"{option} {target} is in use by another gradlab run (process {holder}); "
                "two runs writing into one folder would overwrite each other's files.",
                hint=f"Wait for that run to finish, or choose another folder ({option} DIR).",
            ) from None
        # The holder before us may have removed the file after we opened it: then our
        # lock is on a file nobody else will open. Take the lock on the current file.
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:  # a full disk: say so, as a write of a result would
            raise _write_error(lock_path, exc) from None
        remove_stale_parts(target)
        yield target
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()  # while still holding the lock, so no one else can race us
        os.close(fd)  # releases the lock
        _remove_empty(created)


def _remove_empty(made: list[Path]) -> None:
    """Remove the folders of :func:`_make_folders`, innermost first, while they are empty."""
    for folder in reversed(made):
        try:
            folder.rmdir()  # only succeeds when the run wrote nothing there
        except OSError:
            break


def _make_folders(target: Path) -> list[Path]:
    """Make ``target`` and its missing parents one level at a time, as the path spells them
    (``new/../out`` makes ``new``, then ``out``); return the folders this call made, outermost
    first. A level that cannot be made stops it quietly (:func:`check_out_dir` explains)."""
    made: list[Path] = []
    parts = target.parts
    for depth in range(1, len(parts) + 1):
        level = Path(*parts[:depth])
        if level.exists():
            continue
        try:
            os.mkdir(level)
        except FileExistsError:  # made by someone else just now
            continue
        except OSError:
            break
        made.append(level)
    return made


def remove_stale_parts(folder: Path, *, max_depth: int = 3) -> list[Path]:
    """Delete the temporary ``.*.part`` files of :func:`atomic_path` under ``folder``.

    Call it only while holding the folder (:func:`run_lock`): then no live run of ours
    is writing them. Returns the files removed.
    """
    removed: list[Path] = []
    base_depth = len(folder.parts)
    for root, dirs, files in os.walk(folder):
        if len(Path(root).parts) - base_depth >= max_depth:
            dirs.clear()
        for name in files:
            if name.startswith(".") and name.endswith(PART_SUFFIX):
                path = Path(root) / name
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
    return removed


def _umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically and return the path (``durable``: as in
    :func:`atomic_path`)."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return write_bytes(path, text.encode("utf-8"), durable=durable)


def write_json(path: str | os.PathLike[str], obj: Any, *, durable: bool = True) -> Path:
    """Write ``obj`` as indented, strict JSON to ``path`` atomically and return the path:
    NaN and infinities (a metric an epoch did not have, such as the validation loss of
    one that held nothing back) become null, as JSON has no NaN."""
    text = json.dumps(finite_json(obj), indent=2, default=_jsonable, allow_nan=False)
    return write_text(path, text + "\n", durable=durable)


def finite_json(obj: Any) -> Any:
    """``obj`` with NumPy values as plain ones and every non-finite float as None
    (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_json(v) for v in obj]
    tolist = getattr(obj, "tolist", None)
    return finite_json(tolist()) if callable(tolist) else obj


def _jsonable(obj: Any) -> Any:
    """Turn NumPy scalars and arrays into plain JSON values."""
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
