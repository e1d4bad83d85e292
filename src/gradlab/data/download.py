"""Checksummed downloads from a list of mirrors into a cache folder.

:func:`fetch` returns a cached file when its checksum verifies and otherwise
tries each mirror in turn (:func:`fetch_all` does so for the files of one data
set, trying a mirror that could not be reached last for the files after it). A
download streams into a temporary file beside the target while it is hashed;
only a complete file whose checksum verifies is moved into place, so the cache
never holds a partial or corrupt file. A download is cut off past its file's
size and at a deadline, so a hostile or broken mirror can neither fill the disk
nor hold the download for ever. A temporary file left by a download that was
killed is never read; the next ``fetch`` of that file deletes it (downloads
into one folder take turns, holding a lock on it, so a temporary file found
there belongs to no live download). A cached file that fails its check is
moved aside as ``<name>.rejected``, never deleted: it may be a copy that the
user put there by hand.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import glob
import hashlib
import http.client
import os
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO

from gradlab import io as gio
from gradlab.errors import DownloadError, GradlabError, ResourceError, UsageError
from gradlab.params import Constraint, Interval, validate

if sys.platform != "win32":
    import fcntl

#: Bytes read from the network at a time.
CHUNK_SIZE = 1 << 16
#: The most bytes ``fetch`` accepts for a file whose size it is not told.
MAX_UNKNOWN_SIZE = 1 << 30
#: The slowest average rate, in bytes per second, a download of known size may have: it
#: must be complete within ``DEADLINE_BASE + size / MIN_RATE`` seconds (a 10 MB file gets
#: 460 s, a 200 kbit/s line's worth).
MIN_RATE = 25_000.0
#: Seconds every download gets on top of its size's share (connecting, slow starts).
DEADLINE_BASE = 60.0
#: Seconds a download of unknown size may take.
UNKNOWN_SIZE_DEADLINE = 600.0
#: Hex digest lengths of the checksum algorithms ``fetch`` accepts.
_DIGEST_LENGTHS = {"sha256": 64, "md5": 32}

#: What to do about a cache folder that cannot be used. ``fetch`` does not know where its
#: folder came from, so this names both ways a user chooses it.
CACHE_HINT = (
    "Pass --cache-dir DIR, or set GRADLAB_DATA, to a folder you can write to "
    "(it is created when missing)."
)

#: The ending of the temporary file a download streams into (``io.atomic_path`` makes it
#: as ``.<name>.<random>.part`` beside the target).
_PART = ".part"
#: Where downloads cannot lock their folder, a temporary file untouched for this many
#: seconds is taken to be a leftover of an interrupted download.
LEFTOVER_AGE = 24 * 3600.0

Log = Callable[[str], None]

#: What the limits given to :func:`fetch` may be.
FETCH_PARAMETERS: dict[str, Constraint | list[Constraint]] = {
    "size": [Interval(Integral, 1, None), None],
    "timeout": Interval(Real, 0, None, closed="neither"),
    "deadline": [Interval(Real, 0, None, closed="neither"), None],
}


class _MirrorFailed(Exception):
    """One mirror could not deliver the file; the message names the URL and says why.

    The reason may quote the server (its status line, its error text): control characters
    in it are shown escaped (``\\x1b``), so that a server cannot move the cursor, clear the
    screen or retitle the terminal of the user who reads the message.
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(_printable(message))
        #: The mirror could not be connected to at all (refused, unknown host, timed out).
        self.unreachable = unreachable


def _printable(text: str) -> str:
    """``text`` with every character that is not printable written as its escape."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


class _ChecksumMismatch(_MirrorFailed):
    """A mirror delivered a file whose checksum is wrong."""


def stderr_log(message: str) -> None:
    """Print ``message`` on standard error (the default ``log`` of :func:`fetch`)."""
    print(message, file=sys.stderr, flush=True)


#: How the line begins that says a download waits for another process's lock.
WAITING = "waiting for another gradlab process that is downloading into"


def quiet_log(message: str) -> None:
    """A ``log`` for quiet runs: prints only the line saying that the download waits for
    another process (a run blocked on that would otherwise look hung), on standard error."""
    if message.startswith(WAITING):
        stderr_log(message)


def default_cache_dir() -> Path:
    """Return the folder where downloaded data sets are kept.

    Returns
    -------
    Path
        ``$GRADLAB_DATA`` when set; else ``$XDG_CACHE_HOME/gradlab``; else
        ``~/.cache/gradlab``.

    Raises
    ------
    UsageError
        The folder lies in the home directory (through ``~/.cache``, or a ``~``
        in the variables), and there is none: ``HOME`` is not set and the user
        id has no entry in the password database (a container started with
        ``--user`` of an id unknown to it, say).
    """
    try:
        if env := os.environ.get("GRADLAB_DATA"):
            return Path(env).expanduser()
        if xdg := os.environ.get("XDG_CACHE_HOME"):
            return Path(xdg).expanduser() / "gradlab"
        return Path.home() / ".cache" / "gradlab"
    except (RuntimeError, KeyError):
        uid = f" {os.getuid()}" if hasattr(os, "getuid") else ""
        raise UsageError(
            "cannot find the folder to keep downloaded data sets in: it lies in the home "
            f"directory, and there is none (HOME is not set, and the user id{uid} has no "
            "home in the password database).",
            hint=CACHE_HINT,
        ) from None


#: The environment variable that names mirrors to try before a data set's own.
MIRRORS_VARIABLE = "GRADLAB_MIRRORS"


def env_mirrors(dataset: str) -> list[str]:
    """The mirrors named in ``$GRADLAB_MIRRORS``, to be tried before a data set's own.

    Parameters
    ----------
    dataset : str
        The data set's name, which replaces ``{dataset}`` in each URL (MNIST and
        Fashion-MNIST have the same file names, so one mirror serves both only
        from two folders).

    Returns
    -------
    list of str
        The base URLs, separated by commas in the variable (blanks around them
        and empty entries are ignored); empty when the variable is unset or empty.

    Raises
    ------
    UsageError
        An entry is not an ``http://`` or ``https://`` URL with a host.
    """
    mirrors = []
    for entry in os.environ.get(MIRRORS_VARIABLE, "").split(","):
        url = entry.strip().replace("{dataset}", dataset)
        if not url:
            continue
        if not is_http_url(url):
            raise UsageError(
                f"{MIRRORS_VARIABLE} holds {entry.strip()!r}, which is not an http:// or "
                "https:// URL.",
                hint=f"Set {MIRRORS_VARIABLE} to base URLs separated by commas, such as "
                "https://example.org/{dataset}/ (tried before the data set's own mirrors), "
                "or unset it.",
            )
        mirrors.append(url)
    return mirrors


def fetch(
    filename: str,
    *,
    mirrors: Sequence[str],
    sha256: str | None = None,
    md5: str | None = None,
    cache_dir: Path,
    size: int | None = None,
    progress: bool | None = None,
    timeout: float = 30,
    deadline: float | None = None,
    log: Log = stderr_log,
    hint: str | None = None,
) -> Path:
    """Return ``cache_dir / filename``, downloading it when it is absent or corrupt.

    Parameters
    ----------
    filename : str
        The file's name, both in the cache folder and on the mirrors: a plain
        name, with no ``/`` or ``\\``, not ``.`` or ``..``, so the file can
        only land in ``cache_dir``.
    mirrors : sequence of str
        Base URLs tried in order; the file's URL is ``mirror + filename`` (a
        missing trailing ``/`` is added).
    sha256, md5 : str, optional
        Expected hex digests. Each one given is checked, for a cached file and
        for a download. With neither, any cached file is trusted.
    cache_dir : Path
        The folder to keep the file in; created when missing.
    size : int, optional
        The file's size in bytes. A cached file of another size is moved
        aside unread (see ``log``); a mirror that announces another size, or sends a byte more, is
        cut off at once. Without it a mirror may send up to
        :data:`MAX_UNKNOWN_SIZE` bytes.
    progress : bool, optional
        Show a progress bar on standard error. By default, only when standard
        error is a terminal.
    timeout : float, default 30
        Seconds to wait for a mirror to connect or to send more data.
    deadline : float, optional
        Seconds one mirror may take to deliver the whole file, however steadily
        it sends; then its connection is cut and the next mirror tried. By
        default ``DEADLINE_BASE + size / MIN_RATE`` (:data:`DEADLINE_BASE`,
        :data:`MIN_RATE`), or :data:`UNKNOWN_SIZE_DEADLINE` without ``size``.
    log : callable, default: print on standard error
        Receives one line per event: a download started, a mirror failed, a
        cached file failed its size or checksum and was moved aside to
        ``<name>.rejected`` (never deleted: it may be a copy put there by hand),
        a downloaded file failed its checksum and was deleted,
        a temporary file left by an interrupted download was deleted, another
        process is downloading into the folder and is waited for.
    hint : str, optional
        What to tell the user to do when no mirror delivers the file; by
        default :func:`manual_download_hint`: to put it into the cache folder
        by hand (its size and checksums given), or to read a copy of one's own
        with ``--data-dir``.

    Returns
    -------
    Path
        The verified file ``cache_dir / filename``.

    Raises
    ------
    UsageError
        ``filename`` is not a plain file name (it has a folder part, is
        ``..``, or is absolute); no mirrors; a checksum that is not a hex
        digest; a size, timeout or deadline that is not a number > 0; a
        cache folder that is a file, lies inside one, or cannot be created; or
        a folder, device or pipe where the file goes.
    DownloadError
        No mirror delivered a file of the right size and checksum in time
        (the message lists each mirror and its failure), or writing the file
        failed (a full disk).
    """
    _check_filename(filename)
    expected = _expected_digests(filename, sha256=sha256, md5=md5)
    _check_mirrors(filename, mirrors)
    limits = _limits(size, timeout, deadline)
    folder = Path(cache_dir)
    return _fetch_one(
        filename,
        expected,
        limits,
        folder,
        order=list(mirrors),
        show=sys.stderr.isatty() if progress is None else progress,
        log=log,
        hint=lambda: (
            hint
            or manual_download_hint(
                [filename],
                folder,
                sizes={filename: size} if size is not None else None,
                digests={filename: expected},
            )
        ),
    )


def fetch_all(
    filenames: Sequence[str],
    *,
    mirrors: Sequence[str],
    md5: Mapping[str, str],
    sizes: Mapping[str, int],
    cache_dir: Path,
    progress: bool | None = None,
    timeout: float = 30,
    log: Log = stderr_log,
) -> dict[str, Path]:
    """Return the files of one data set, each as :func:`fetch` returns it.

    Parameters
    ----------
    filenames : sequence of str
        The files, fetched in this order.
    mirrors : sequence of str
        Base URLs, tried in order for each file.
    md5, sizes : mapping
        Each file's MD5 hex digest and size in bytes, by file name.
    cache_dir : Path
        The folder to keep the files in; created when missing.
    progress, timeout, log
        As for :func:`fetch`.

    Returns
    -------
    dict of str to Path
        The verified file of each name in ``filenames``.

    Raises
    ------
    UsageError, DownloadError, ResourceError
        As for :func:`fetch`. When no mirror delivers a file, the hint names all
        the files, with their published sizes and checksums.
    """
    for filename in filenames:
        _check_filename(filename)
    _check_mirrors(", ".join(filenames), mirrors)
    expected = {f: _expected_digests(f, md5=md5[f]) for f in filenames}
    folder = Path(cache_dir)
    order = list(mirrors)
    show = sys.stderr.isatty() if progress is None else progress
    return {
        filename: _fetch_one(
            filename,
            expected[filename],
            _limits(sizes[filename], timeout, None),
            folder,
            order=order,
            show=show,
            log=log,
            hint=lambda: manual_download_hint(filenames, folder, sizes=sizes, digests=expected),
        )
        for filename in filenames
    }


def _check_mirrors(what: str, mirrors: Sequence[str]) -> None:
    """Raise a UsageError unless ``mirrors`` is a non-empty list of strings."""
    if isinstance(mirrors, str | bytes) or not all(isinstance(m, str) for m in mirrors):
        raise UsageError(
            f"fetch: mirrors must be a list of base URLs (strings); got {mirrors!r:.200}."
        )
    if not mirrors:
        raise UsageError(f"no mirrors given to download {what} from")
    for mirror in mirrors:
        if not is_http_url(mirror):
            raise UsageError(
                f"fetch: the mirror {mirror!r} is not an http:// or https:// URL; "
                "give base URLs such as 'https://example.org/mnist/'"
            )


def is_http_url(url: str) -> bool:
    """True for an ``http://`` or ``https://`` URL with a host (and a port, if any, in
    0..65535)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (read only when asked: raises for 'abc' or 99999)
    except ValueError:  # a bad port, an unclosed [
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _limits(size: int | None, timeout: float, deadline: float | None) -> _Limits:
    """The checked limits of one download."""
    validate(FETCH_PARAMETERS, {"size": size, "timeout": timeout, "deadline": deadline}, "fetch")
    return _Limits(
        size=size,
        most=size if size is not None else MAX_UNKNOWN_SIZE,
        deadline=deadline if deadline is not None else _default_deadline(size),
        timeout=timeout,
    )


def _fetch_one(
    filename: str,
    expected: Mapping[str, str],
    limits: _Limits,
    folder: Path,
    *,
    order: list[str],
    show: bool,
    log: Log,
    hint: Callable[[], str],
) -> Path:
    """:func:`fetch` once its arguments are checked; ``hint`` is made when needed."""
    target = folder / filename
    _check_cache_folder(folder)
    if not folder.is_dir():
        _make_cache_folder(folder)
    with _folder_lock(folder, log) as locked:
        _remove_leftovers(target, locked=locked, log=log)
        if _cached_file_is_good(target, expected, limits.size, log):
            return target
        _download_from_mirrors(target, order, expected, limits, show=show, log=log, hint=hint)
    return target


def _download_from_mirrors(
    target: Path,
    mirrors: list[str],
    expected: Mapping[str, str],
    limits: _Limits,
    *,
    show: bool,
    log: Log,
    hint: Callable[[], str],
) -> None:
    """Try each mirror in turn until one delivers ``target`` with the ``expected`` digests.

    A mirror that cannot be connected to is moved to the end of ``mirrors`` (the
    caller's list, shared by the files of one data set): a dead first mirror
    then costs its timeout once, not once for every file.
    """
    filename = target.name
    failures: list[str] = []
    for number, mirror in enumerate(list(mirrors), start=1):
        log(f"downloading {_url(mirror, filename)}")
        try:
            _download(mirror, target, expected, limits, show=show)
        except _MirrorFailed as exc:
            log(f"{exc}; trying the next mirror" if number < len(mirrors) else str(exc))
            failures.append(f"  {exc}")
            if exc.unreachable:
                mirrors.remove(mirror)
                mirrors.append(mirror)
            continue
        except (OSError, UsageError) as exc:
            raise _cache_write_error(target, exc) from None
        return
    raise DownloadError(
        f"could not download {filename} from any mirror:\n" + "\n".join(failures),
        hint=hint(),
    )


def _cache_write_error(target: Path, exc: OSError | UsageError) -> GradlabError:
    """A file of the cache that cannot be written, said in the cache's terms: out of disk
    space is a ResourceError (exit 5), any other reason a cache folder to change (exit 2).

    ``atomic_path`` reports its failures in terms of ``--out`` (its usual caller's
    option), chained to the operating system's error: that error's reason is kept.
    """
    cause = exc.__context__ if isinstance(exc, GradlabError) else exc
    if isinstance(cause, OSError) and cause.strerror:
        reason = cause.strerror
    elif isinstance(exc, GradlabError):
        reason = exc.message.removeprefix(f"cannot write {target}: ").rstrip(".")
    else:
        reason = str(exc) or type(exc).__name__
    where = f"cannot write {target.name} into the cache folder {target.parent}: {reason}."
    if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceError(
            where,
            hint="Free some disk space, or keep the data sets on another disk "
            "(--cache-dir DIR, or GRADLAB_DATA).",
        )
    return UsageError(where, hint=CACHE_HINT)


@contextlib.contextmanager
def _folder_lock(folder: Path, log: Log) -> Iterator[bool]:
    """Hold an exclusive lock on ``folder`` while a file in it is checked and downloaded.

    The lock is ``flock`` on the folder itself (no lock file to leave behind),
    and the system drops it when its holder exits, even when killed. A second
    gradlab process downloading into the same folder waits, then finds the
    file in the cache.

    Yields
    ------
    bool
        True when the lock is held: every temporary file in the folder is then
        a leftover of a process that has died. False where locks are not
        available (Windows, some network file systems).
    """
    if sys.platform == "win32":
        yield False
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            log(f"{WAITING} {folder}")
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False
        yield locked
    finally:
        os.close(fd)  # releases the lock


def _remove_leftovers(target: Path, *, locked: bool, log: Log) -> None:
    """Delete the temporary files that interrupted downloads of ``target`` left beside it.

    They are never read: a download always starts afresh. Under the folder's
    lock every one is a leftover; without it, only those untouched for
    :data:`LEFTOVER_AGE` seconds are taken to be (another process may be
    writing a younger one).
    """
    pattern = f".{glob.escape(target.name)}.*{_PART}"
    for path in target.parent.glob(pattern):
        try:
            if not locked and time.time() - path.stat().st_mtime < LEFTOVER_AGE:
                continue
            path.unlink()
        except OSError:
            continue  # gone already, or a folder we cannot write: it stays ignored
        log(f"deleted {path}, left by an interrupted download")


def manual_download_hint(
    filenames: Sequence[str],
    folder: Path,
    *,
    sizes: Mapping[str, int] | None = None,
    digests: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """Tell how to place ``filenames`` into ``folder`` by hand, or read copies of one's own.

    Parameters
    ----------
    filenames : sequence of str
        The files to place.
    folder : Path
        The cache folder they go into.
    sizes : mapping of str to int, optional
        The published size of each file, by name.
    digests : mapping of str to mapping, optional
        The published checksums of each file, by name, then by algorithm
        (``{"train.gz": {"md5": "f68b..."}}``).

    Returns
    -------
    str
        Lines that say which bytes the cache accepts, what happens to other
        copies, and how to read those with ``--data-dir``; when ``folder``
        already holds such copies (raw files, or files moved aside as
        ``.rejected``), that comes first, naming them.
    """
    one = len(filenames) == 1
    published = []
    for name in filenames:
        facts = [f"{sizes[name]} bytes"] if sizes and name in sizes else []
        facts += [f"{a.upper()} {d}" for a, d in (digests or {}).get(name, {}).items()]
        if facts:
            published.append(f"  {name}: {', '.join(facts)}")
    lines = []
    copies = _own_copies(filenames, folder)
    if copies:
        rejected = [c for c in copies if c.endswith(REJECTED)]
        rename = (
            f" (rename {' and '.join(rejected)} back without {REJECTED} first)" if rejected else ""
        )
        lines.append(
            f"{folder}/ holds copies that are not the published files: {', '.join(copies)}. "
            f"To read them as they are, pass --data-dir {folder}{rename}."
        )
    lines.append(
        f"Download {', '.join(filenames)} by hand (from a mirror that works for you) and put "
        f"{'it' if one else 'them'} into {folder}/ unchanged: {'it' if one else 'each'} must "
        "be the published file, byte for byte" + (":" if published else ".")
    )
    lines += published
    lines.append(
        f"A file that differs (compressed again, say) is moved aside as <name>{REJECTED}. "
        "Copies of your own, raw or .gz, are read as they are with --data-dir DIR "
        "(the folder that holds them)."
    )
    return "\n".join(lines)


def _own_copies(filenames: Sequence[str], folder: Path) -> list[str]:
    """The names of the files in ``folder`` that stand for ``filenames`` but are not them:
    uncompressed ones (the name without ``.gz``) and ones moved aside as ``.rejected``."""
    found = []
    for name in filenames:
        raw = name.removesuffix(".gz")
        for candidate in ([raw] if raw != name else []) + [name + REJECTED]:
            with contextlib.suppress(OSError):
                if (folder / candidate).is_file():
                    found.append(candidate)
    return found


def _check_filename(filename: str) -> None:
    """Raise a UsageError unless ``filename`` is a plain name that stays inside its folder.

    Both POSIX and Windows rules apply, so ``a\\b`` and ``C:x`` are refused on
    every system, as they would escape the folder on one of them.
    """
    problem = None
    if not isinstance(filename, str):
        problem = f"it is a {type(filename).__name__}, not a str"
    elif not filename:
        problem = "it is empty"
    elif PurePosixPath(filename).is_absolute() or PureWindowsPath(filename).is_absolute():
        problem = "it is an absolute path"
    elif filename in (".", ".."):
        problem = "it names a folder, not a file"
    elif ".." in PureWindowsPath(filename).parts:
        problem = "it leads out of the cache folder"
    elif PurePosixPath(filename).name != filename or PureWindowsPath(filename).name != filename:
        problem = "it has a folder part"
    elif not filename.isprintable():
        problem = "it has control characters"
    if problem is not None:
        raise UsageError(
            f"fetch: the file name {filename!r} is not a plain file name ({problem}); "
            "give the name alone (such as 'train-images-idx3-ubyte.gz') and the folder as cache_dir"
        )


def _url(mirror: str, filename: str) -> str:
    """Join a mirror's base URL and a file name."""
    return (mirror if mirror.endswith("/") else mirror + "/") + filename


def _expected_digests(filename: str, **digests: str | None) -> dict[str, str]:
    """Return the given digests by algorithm name, lower-cased, after checking their form."""
    expected: dict[str, str] = {}
    for algorithm, digest in digests.items():
        if digest is None:
            continue
        digest = digest.strip().lower()
        length = _DIGEST_LENGTHS[algorithm]
        if len(digest) != length or any(c not in "0123456789abcdef" for c in digest):
            raise UsageError(
                f"the {algorithm} checksum given for {filename} is {digest!r}, "
                f"but it must be {length} hex digits"
            )
        expected[algorithm] = digest
    return expected


def _new_hashers(expected: Mapping[str, str]) -> dict[str, hashlib._Hash]:
    """Return a fresh hasher for each expected digest."""
    return {algorithm: hashlib.new(algorithm) for algorithm in expected}


def _mismatch(expected: Mapping[str, str], hashers: Mapping[str, hashlib._Hash]) -> str | None:
    """Describe how the hashed data fails ``expected``, or return None when it verifies."""
    for algorithm, digest in expected.items():
        actual = hashers[algorithm].hexdigest()
        if actual != digest:
            return f"expected {algorithm} {digest}, got {actual}"
    return None


def _hash_file(path: Path, expected: Mapping[str, str]) -> dict[str, hashlib._Hash]:
    """Hash the file at ``path`` with each algorithm in ``expected``."""
    hashers = _new_hashers(expected)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            for hasher in hashers.values():
                hasher.update(chunk)
    return hashers


def _check_cache_folder(folder: Path) -> None:
    """Raise a UsageError when ``folder``, or the nearest part of it that exists, is a file."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == folder else f"is inside {existing}, which is a file"
        raise UsageError(f"the cache folder {folder} {where}, not a folder", hint=CACHE_HINT)


def _make_cache_folder(folder: Path) -> None:
    """Create ``folder`` when missing; raise a UsageError saying why when that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the cache folder {folder}: {exc.strerror or exc}", hint=CACHE_HINT
        ) from None


def _cached_file_is_good(
    target: Path, expected: Mapping[str, str], size: int | None, log: Log
) -> bool:
    """Return True when ``target`` exists and verifies; move it aside when it fails.

    A file that fails is never deleted: it may be a copy put there by hand (the
    same data compressed again, say). It is renamed ``<name>.rejected``
    (replacing an earlier one), which a download cannot overwrite and which
    ``--data-dir`` can read once renamed back. A file of the wrong ``size`` is
    moved aside unread. A symbolic link is only read through: one that does
    not lead to a file that verifies is moved aside itself (its target stays
    as it is), so a download never writes outside the cache folder.

    Raises
    ------
    UsageError
        ``target`` is a folder, a device, pipe or socket (the download could
        not take its place), or a file that fails and cannot be moved aside.
    """
    link = target.is_symlink()
    if not link and not target.exists():
        return False
    where = f"cached {target}"
    if link:
        where += f" (a symbolic link to {os.readlink(target)})"
        if not target.exists():
            _reject(target, f"{where} leads to no file", log)
            return False
        if not target.is_file():
            _reject(target, f"{where} leads to something that is not a regular file", log)
            return False
    elif not target.is_file():
        kind = "a folder" if target.is_dir() else "not a regular file (a device, pipe or socket)"
        raise UsageError(
            f"{target} is {kind}, where the cache keeps the file {target.name}.",
            hint=f"Remove {target} (or move it away), or " + _lower_first(CACHE_HINT),
        )
    actual = target.stat().st_size
    if size is not None and actual != size:
        _reject(target, f"wrong size for {where}: expected {size} bytes, found {actual}", log)
        return False
    problem = _mismatch(expected, _hash_file(target, expected))
    if problem is None:
        return True
    _reject(target, f"checksum mismatch for {where}: {problem}", log)
    return False


#: The ending given to a cached file that failed its check.
REJECTED = ".rejected"


def _reject(target: Path, why: str, log: Log) -> None:
    """Move a cached file (or link) that failed its check aside to ``<name>.rejected``."""
    aside = target.with_name(target.name + REJECTED)
    try:
        os.replace(target, aside)
    except OSError as exc:
        raise UsageError(
            f"{why}, and it cannot be moved aside to {aside.name} ({exc.strerror or exc}).",
            hint=f"Move or delete {target} yourself, or " + _lower_first(CACHE_HINT),
        ) from None
    log(f"{why}; moved aside to {aside.name}, downloading the published file")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _download(
    mirror: str, target: Path, expected: Mapping[str, str], limits: _Limits, *, show: bool
) -> None:
    """Stream ``target``'s file from ``mirror`` into it while hashing; keep it only if it verifies.

    Raises
    ------
    _MirrorFailed
        The mirror could not be reached, broke a limit, or sent a short or
        wrong file; nothing is left behind.
    OSError
        The file could not be written.
    """
    hashers = _new_hashers(expected)
    with gio.atomic_path(target) as tmp, open(tmp, "wb") as out:
        for chunk in _stream(_url(mirror, target.name), limits, show=show):
            out.write(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
        problem = _mismatch(expected, hashers)
        if problem is not None:
            raise _ChecksumMismatch(
                f"checksum mismatch for {target.name} from {mirror}: {problem}; file deleted"
            )


@dataclass(frozen=True)
class _Limits:
    """What one download may do.

    Attributes
    ----------
    size : int or None
        The exact size of the file, when known.
    most : int
        The most bytes a mirror may send.
    deadline : float
        Seconds a mirror may take for the whole file, from the first connection.
    timeout : float
        Seconds to wait for each connection or read.
    """

    size: int | None
    most: int
    deadline: float
    timeout: float


def _default_deadline(size: int | None) -> float:
    """The seconds a download of ``size`` bytes may take, by default."""
    return UNKNOWN_SIZE_DEADLINE if size is None else DEADLINE_BASE + size / MIN_RATE


def _stream(url: str, limits: _Limits, *, show: bool) -> Iterator[bytes]:
    """Yield the body of ``url`` in chunks, drawing a progress bar when ``show``.

    Every network failure, a body shorter than its announced length, a body
    larger than ``limits.most`` (announced or sent), an announced length other
    than ``limits.size``, and a download still running at ``limits.deadline``
    are raised as :class:`_MirrorFailed`. No more than ``limits.most`` bytes
    are ever yielded.
    """
    received = 0
    total: int | None = None
    with _Watchdog(limits.deadline) as watchdog:
        try:
            with watchdog.opener().open(url, timeout=limits.timeout) as response:
                total = _content_length(response)
                _check_announced_length(url, total, limits)
                known = total if total is not None else limits.size
                bar = ProgressBar(url.rsplit("/", 1)[-1], known, sys.stderr) if show else None
                try:
                    # read1 returns what one receive brings, so a trickle cannot hold a
                    # read open for long, and the cap and the deadline are checked often
                    while chunk := response.read1(CHUNK_SIZE):
                        received += len(chunk)
                        if received > limits.most:
                            raise _MirrorFailed(_too_long(url, limits))
                        if watchdog.expired():
                            break
                        if bar is not None:
                            bar.update(received)
                        yield chunk
                finally:
                    if bar is not None:
                        bar.close()
        except _RedirectRefused as exc:
            raise _MirrorFailed(
                f"{url}: redirected to {exc.target}, which is not an http:// or https:// URL; "
                "not followed"
            ) from None
        except urllib.error.HTTPError as exc:
            if isinstance(exc.msg, str) and exc.msg.startswith(_RedirectHandler.inf_msg):
                raise _MirrorFailed(
                    f"{url}: too many redirects (a loop, or more than "
                    f"{_RedirectHandler.max_redirections}); stopped at {exc.filename}"
                ) from exc
            raise _MirrorFailed(f"{url}: HTTP error {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            if watchdog.expired():
                raise _MirrorFailed(_too_slow(url, limits, received)) from exc
            if isinstance(exc, urllib.error.URLError):
                raise _MirrorFailed(
                    f"{url}: cannot connect: {_reason(exc.reason)}", unreachable=True
                ) from exc
            if isinstance(exc, TimeoutError):
                raise _MirrorFailed(f"{url}: no data within {limits.timeout:g} s") from exc
            if isinstance(exc, http.client.BadStatusLine) and not isinstance(
                exc, http.client.RemoteDisconnected
            ):
                began = str(exc.args[0] if exc.args else "").strip()[:60]
                raise _MirrorFailed(
                    f"{url}: the server did not answer in HTTP (its reply began {began!r}); "
                    "check the URL's host, port and http/https"
                ) from exc
            raise _MirrorFailed(f"{url}: connection failed: {_reason(exc)}") from exc
        if watchdog.expired():
            raise _MirrorFailed(_too_slow(url, limits, received))
    expected_total = total if total is not None else limits.size
    if expected_total is not None and received < expected_total:
        raise _MirrorFailed(f"{url}: connection closed after {received} of {expected_total} bytes")


def _check_announced_length(url: str, total: int | None, limits: _Limits) -> None:
    """Refuse a response whose Content-Length is not the file's size, or is over the cap."""
    if total is None:
        return
    if limits.size is not None and total != limits.size:
        raise _MirrorFailed(
            f"{url}: announces {total} bytes, but the file has {limits.size}; not downloaded"
        )
    if total > limits.most:
        raise _MirrorFailed(
            f"{url}: announces {total} bytes, more than the {limits.most} accepted; not downloaded"
        )


def _too_long(url: str, limits: _Limits) -> str:
    what = "the file has" if limits.size is not None else "are accepted"
    return f"{url}: sent more than the {limits.most} bytes {what}; stopped"


def _too_slow(url: str, limits: _Limits, received: int) -> str:
    of = f" of {limits.size}" if limits.size is not None else ""
    return (
        f"{url}: not complete within the deadline of {limits.deadline:g} s "
        f"({received}{of} bytes received); stopped"
    )


_Conn = http.client.HTTPConnection


class _Watchdog:
    """Cuts the connections of one download when its deadline passes.

    A per-read timeout cannot bound a download: a server that sends a byte
    just before every timeout keeps it alive for ever. Each connection the
    download opens (redirects and proxies included) is registered here, and a
    timer shuts them all down at the deadline, which wakes any read blocked
    on them.
    """

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self._expired

    def watch(self, sock: socket.socket) -> None:
        """Register a connection's socket (shut down at once when already expired)."""
        with self._lock:
            self._sockets.append(sock)
            if self._expired:
                _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def opener(self) -> urllib.request.OpenerDirector:
        """A urllib opener whose HTTP and HTTPS connections register with this watchdog."""
        watchdog = self

        def connection_class(base: type[_Conn]) -> type[_Conn]:
            class Watched(base):  # type: ignore[valid-type,misc]
                def connect(self) -> None:
                    super().connect()
                    watchdog.watch(self.sock)

            return Watched

        class HTTPHandler(urllib.request.HTTPHandler):
            def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
                return self.do_open(connection_class(http.client.HTTPConnection), req)

        class HTTPSHandler(urllib.request.HTTPSHandler):
            def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
                watched = connection_class(http.client.HTTPSConnection)
                return self.do_open(watched, req, context=_ssl_context())

        # Built by hand: build_opener adds FTP, file and data handlers, which a redirect
        # could reach, and whose connections this watchdog would not see.
        opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(),
            urllib.request.UnknownHandler(),
            HTTPHandler(),
            HTTPSHandler(context=_ssl_context()),
            urllib.request.HTTPDefaultErrorHandler(),
            _RedirectHandler(),
            urllib.request.HTTPErrorProcessor(),
        ):
            opener.add_handler(handler)
        return opener


class _RedirectRefused(Exception):
    """A mirror redirected to a URL that is not http:// or https://."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http:// and https:// URLs only (urllib also follows ``ftp://``)."""

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
    ) -> IO[bytes] | None:
        location = headers.get("location") or headers.get("uri")
        if location is not None:
            target = urllib.parse.urljoin(req.full_url, location)
            if urllib.parse.urlsplit(target).scheme not in ("http", "https"):
                fp.close()
                raise _RedirectRefused(target)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The default, verifying TLS context (made once: loading the CA store takes time)."""
    return ssl.create_default_context()


def _reason(reason: object) -> str:
    """Describe a network error briefly (``timed out``, ``Connection refused``...)."""
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _content_length(response: http.client.HTTPResponse) -> int | None:
    """Return the announced body length of ``response``, or None."""
    value = response.headers.get("Content-Length")
    # isdigit alone takes "²", on which int() fails
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


class ProgressBar:
    """A one-line progress bar: ``name [#####.....]  50%  4.7/9.4 MB``.

    Parameters
    ----------
    label : str
        What is being downloaded.
    total : int or None
        The expected number of bytes; None when unknown (then only the MB
        received are shown).
    stream : file
        Where to draw, normally standard error.
    """

    width = 30
    interval = 0.1  # seconds between redraws

    def __init__(self, label: str, total: int | None, stream: IO[str]) -> None:
        self.label = label
        self.total = total
        self.stream = stream
        self._last_draw = -float("inf")
        self._received = 0

    def update(self, received: int) -> None:
        """Record that ``received`` bytes have arrived; redraw at most every ``interval`` s."""
        self._received = received
        now = time.monotonic()
        if now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw()

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._draw()
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self) -> None:
        mb = self._received / 1e6
        if self.total:
            fraction = min(self._received / self.total, 1.0)
            filled = round(self.width * fraction)
            bar = "#" * filled + "." * (self.width - filled)
            text = f"{self.label} [{bar}] {fraction:4.0%}  {mb:.1f}/{self.total / 1e6:.1f} MB"
        else:
            text = f"{self.label} {mb:.1f} MB"
        self.stream.write("\r" + text)
        self.stream.flush()
