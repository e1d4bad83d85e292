"""Checksummed downloads from a list of mirrors into a cache folder.

:func:`fetch` returns a cached file when its checksum verifies and otherwise
tries each mirror in turn. A download streams into a temporary file beside the
target while it is hashed; only a complete file whose checksum verifies is moved
into place, so the cache never holds a partial or corrupt file. A temporary
file left by a download that was killed is never read; the next ``fetch`` of
that file deletes it (downloads into one folder take turns, holding a lock on
it, so a temporary file found there belongs to no live download).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO

from gradlab import io as gio
from gradlab.errors import DownloadError, UsageError

if sys.platform != "win32":
    import fcntl

#: Bytes read from the network at a time.
CHUNK_SIZE = 1 << 16
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


class _MirrorFailed(Exception):
    """One mirror could not deliver the file; the message names the URL and says why."""


class _ChecksumMismatch(_MirrorFailed):
    """A mirror delivered a file whose checksum is wrong."""


def stderr_log(message: str) -> None:
    """Print ``message`` on standard error (the default ``log`` of :func:`fetch`)."""
    print(message, file=sys.stderr, flush=True)


def default_cache_dir() -> Path:
    """Return the folder where downloaded data sets are kept.

    Returns
    -------
    Path
        ``$GRADLAB_DATA`` when set; else ``$XDG_CACHE_HOME/gradlab``; else
        ``~/.cache/gradlab``.
    """
    if env := os.environ.get("GRADLAB_DATA"):
        return Path(env).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "gradlab"
    return Path.home() / ".cache" / "gradlab"


def fetch(
    filename: str,
    *,
    mirrors: Sequence[str],
    sha256: str | None = None,
    md5: str | None = None,
    cache_dir: Path,
    progress: bool | None = None,
    timeout: float = 30,
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
    progress : bool, optional
        Show a progress bar on standard error. By default, only when standard
        error is a terminal.
    timeout : float, default 30
        Seconds to wait for a mirror to connect or to send more data.
    log : callable, default: print on standard error
        Receives one line per event: a download started, a mirror failed, a
        cached or downloaded file failed its checksum and was deleted.
    hint : str, optional
        What to tell the user to do when no mirror delivers the file; by
        default, to put it into the cache folder by hand.

    Returns
    -------
    Path
        The verified file ``cache_dir / filename``.

    Raises
    ------
    UsageError
        ``filename`` is not a plain file name (it has a folder part, is
        ``..``, or is absolute); no mirrors; a checksum that is not a hex
        digest; or a cache folder that is a file, lies inside one, or cannot
        be created.
    DownloadError
        No mirror delivered a file with the right checksum (the message lists
        each mirror and its failure), or writing the file failed (a full disk).
    """
    _check_filename(filename)
    expected = _expected_digests(filename, sha256=sha256, md5=md5)
    if not mirrors:
        raise UsageError(f"no mirrors given to download {filename} from")
    target = Path(cache_dir) / filename
    _check_cache_folder(target.parent)
    if not target.parent.is_dir():
        _make_cache_folder(target.parent)
    with _folder_lock(target.parent, log) as locked:
        _remove_leftovers(target, locked=locked, log=log)
        if _cached_file_is_good(target, expected, log):
            return target
        show = sys.stderr.isatty() if progress is None else progress
        _download_from_mirrors(
            target, mirrors, expected, show=show, timeout=timeout, log=log, hint=hint
        )
    return target


def _download_from_mirrors(
    target: Path,
    mirrors: Sequence[str],
    expected: Mapping[str, str],
    *,
    show: bool,
    timeout: float,
    log: Log,
    hint: str | None,
) -> None:
    """Try each mirror in turn until one delivers ``target`` with the ``expected`` digests."""
    filename = target.name
    failures: list[str] = []
    for number, mirror in enumerate(mirrors, start=1):
        log(f"downloading {_url(mirror, filename)}")
        try:
            _download(mirror, target, expected, show=show, timeout=timeout)
        except _MirrorFailed as exc:
            log(f"{exc}; trying the next mirror" if number < len(mirrors) else str(exc))
            failures.append(f"  {exc}")
            continue
        except (OSError, UsageError) as exc:
            # atomic_path reports a temporary file it cannot create as a UsageError about
            # --out (its usual caller's option), chained to the OSError: say it our way
            cause = exc if isinstance(exc, OSError) else exc.__context__
            reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else cause
            raise DownloadError(
                f"cannot write {filename} into the cache folder {target.parent}: {reason}",
                hint=CACHE_HINT,
            ) from exc
        return
    raise DownloadError(
        f"could not download {filename} from any mirror:\n" + "\n".join(failures),
        hint=hint or manual_download_hint([filename], target.parent),
    )


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
            log(f"waiting for another gradlab process that is downloading into {folder}")
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


def manual_download_hint(filenames: Sequence[str], folder: Path) -> str:
    """Tell how to place ``filenames`` into ``folder`` by hand."""
    names = ", ".join(filenames)
    return (
        f"Download {names} by hand (from a mirror that works for you) and put "
        f"{'it' if len(filenames) == 1 else 'them'} into {folder}/, "
        "or pass --data-dir DIR to read the files from a folder of your own."
    )


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


def _cached_file_is_good(target: Path, expected: Mapping[str, str], log: Log) -> bool:
    """Return True when ``target`` exists and verifies; delete it when it fails."""
    if not target.is_file():
        return False
    problem = _mismatch(expected, _hash_file(target, expected))
    if problem is None:
        return True
    log(f"checksum mismatch for cached {target}: {problem}; file deleted, downloading it again")
    target.unlink()
    return False


def _download(
    mirror: str, target: Path, expected: Mapping[str, str], *, show: bool, timeout: float
) -> None:
    """Stream ``target``'s file from ``mirror`` into it while hashing; keep it only if it verifies.

    Raises
    ------
    _MirrorFailed
        The mirror could not be reached or sent a short or wrong file; nothing
        is left behind.
    OSError
        The file could not be written.
    """
    hashers = _new_hashers(expected)
    with gio.atomic_path(target) as tmp, open(tmp, "wb") as out:
        for chunk in _stream(_url(mirror, target.name), timeout=timeout, show=show):
            out.write(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
        problem = _mismatch(expected, hashers)
        if problem is not None:
            raise _ChecksumMismatch(
                f"checksum mismatch for {target.name} from {mirror}: {problem}; file deleted"
            )


def _stream(url: str, *, timeout: float, show: bool) -> Iterator[bytes]:
    """Yield the body of ``url`` in chunks, drawing a progress bar when ``show``.

    Every network failure, and a body shorter than its announced length, is
    raised as :class:`_MirrorFailed`.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = _content_length(response)
            bar = ProgressBar(url.rsplit("/", 1)[-1], total, sys.stderr) if show else None
            received = 0
            try:
                while chunk := response.read(CHUNK_SIZE):
                    received += len(chunk)
                    if bar is not None:
                        bar.update(received)
                    yield chunk
            finally:
                if bar is not None:
                    bar.close()
    except urllib.error.HTTPError as exc:
        raise _MirrorFailed(f"{url}: HTTP error {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _MirrorFailed(f"{url}: cannot connect: {_reason(exc.reason)}") from exc
    except TimeoutError as exc:
        raise _MirrorFailed(f"{url}: no data within {timeout:g} s") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _MirrorFailed(f"{url}: connection failed: {_reason(exc)}") from exc
    if total is not None and received < total:
        raise _MirrorFailed(f"{url}: connection closed after {received} of {total} bytes")


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
    return int(value) if value is not None and value.isdigit() else None


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
