"""The IDX file format of MNIST and Fashion-MNIST, raw or gzip-compressed.

An IDX file is a header and an array::

    byte 0, 1   two zero bytes
    byte 2      the element type: 0x08 uint8, 0x09 int8, 0x0B int16,
                0x0C int32, 0x0D float32, 0x0E float64
    byte 3      the number of dimensions, d
    4 * d bytes the size of each dimension, big-endian uint32
    the rest    the elements in C order, big-endian

``read_idx`` checks every part of that and says in plain words what is wrong
with a damaged file. A file is taken as gzip-compressed when it starts with the
gzip magic bytes ``1f 8b``, whatever its name.

Reading is bounded by what the header declares, never by what the file holds:
only the header is decompressed first, and the declared shape is checked
against the caller's :class:`IdxSpec` (MNIST's 60000 images of 28x28, say)
and a global cap, :data:`MAX_IDX_BYTES`, before anything is allocated. The
data is then decompressed a slice at a time into an array of exactly the
declared size, and a stream that runs longer is stopped after at most
:data:`TRAILING_LIMIT` more bytes. A gzip bomb (a small file that expands to
gigabytes) therefore costs no more memory than its header declares. Past the declared
data, at most :data:`TRAILING_COMPRESSED_LIMIT` more compressed bytes are read (zero
padding and further gzip members, which the gzip module reads a byte at a time), so
the time is bounded too.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt

from gradlab import io as gio
from gradlab.errors import DataError, GradlabError, MissingFileError, UsageError

#: IDX type code -> element type (big-endian, as stored in the file).
IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
#: The most dimensions an IDX file may declare (images of colour channels have 4).
MAX_DIMS = 4
#: The most data, in bytes, ``read_idx`` accepts from a header by default (MNIST's
#: training images are 47 MB).
MAX_IDX_BYTES = 1 << 30
#: How far past the declared data a stream is read to say how much too long it is.
TRAILING_LIMIT = 1 << 20
#: Bytes decompressed or read at a time.
_SLICE = 1 << 20
#: The most compressed bytes read past the point where the declared data is complete:
#: the end of its gzip member, and enough to count :data:`TRAILING_LIMIT` bytes more. The
#: gzip module skips zero padding after a member a byte at a time (64 MiB took 12 s)
#: and reads further members' headers so too.
TRAILING_COMPRESSED_LIMIT = 2 * TRAILING_LIMIT
#: The longest file name or comment a gzip header may store. Real ones take a few bytes;
#: the gzip module reads them a byte at a time, so a huge one would take seconds.
MAX_GZIP_FIELD = 1 << 16
#: What to do about a damaged file, by default: the data sets' files are downloaded.
DOWNLOAD_AGAIN = "Delete it and download it again."


@dataclass(frozen=True)
class IdxSpec:
    """What an IDX file of a known data set must declare.

    Attributes
    ----------
    what : str
        The file's role, for messages (``"MNIST training images"``).
    dtype : str
        The element type's name (``"uint8"``).
    shape : tuple of (int or None)
        The size of each dimension; None for the first, the number of items.
    max_items : int
        The most items (the first dimension) the file may hold.
    """

    what: str
    dtype: str
    shape: tuple[int | None, ...]
    max_items: int

    def accepts(self, dtype: np.dtype[Any], shape: tuple[int, ...]) -> bool:
        """True when ``dtype`` and ``shape`` are what this spec allows."""
        return (
            dtype.name == self.dtype
            and len(shape) == len(self.shape)
            and all(
                want is None or want == got for want, got in zip(self.shape, shape, strict=True)
            )
            and shape[0] <= self.max_items
        )

    def describe(self) -> str:
        """In words: ``at most 60000 images of 28x28 (uint8)``."""
        example = tuple(self.max_items if n is None else n for n in self.shape)
        return f"at most {describe_shape(example)} ({self.dtype})"


_GZIP_MAGIC = b"\x1f\x8b"


class _Stream(Protocol):
    """What ``read_idx`` reads from: a raw file, or a :class:`gzip.GzipFile`."""

    def read(self, size: int = ..., /) -> bytes | None: ...

    def readinto(self, buffer: memoryview, /) -> int | None: ...


_PREAMBLE = 4  # two zero bytes, the type code, the number of dimensions


def read_idx(
    path: str | os.PathLike[str],
    *,
    spec: IdxSpec | None = None,
    max_bytes: int = MAX_IDX_BYTES,
    damaged_hint: str = DOWNLOAD_AGAIN,
) -> npt.NDArray[Any]:
    """Read an IDX file, raw or gzip-compressed, in memory bounded by its header.

    Parameters
    ----------
    path : path-like
        The file. It is decompressed when it starts with the gzip magic bytes.
    spec : IdxSpec, optional
        What the file must declare (type, shape, the most items); checked from
        the header, before the data is read.
    max_bytes : int, default MAX_IDX_BYTES
        The most data the header may declare, in bytes.
    damaged_hint : str, default DOWNLOAD_AGAIN
        What to tell the user about a damaged (truncated, undecodable) file:
        by default to download it again, which suits a downloaded file only.

    Returns
    -------
    ndarray of shape (d1, ..., dk)
        The array, in native byte order, writable, with the dtype that the
        file's type code names (uint8 for MNIST images and labels).

    Raises
    ------
    DataError
        The file cannot be read or is not a regular file; it is a damaged gzip
        file or one whose gzip header stores a name or comment over
        :data:`MAX_GZIP_FIELD` bytes; its header is not that of an IDX file (bad zero bytes, unknown
        type code, no or too many dimensions, a dimension of size 0); it
        declares more than ``max_bytes`` or something ``spec`` does not allow;
        or its data is shorter or longer than the header declares. The message
        names the file and what its header declared.
    """
    p = Path(path)
    hint = damaged_hint
    with _open(p, hint) as (stream, raw_size, compressed_input):
        compressed = raw_size is None
        try:
            try:
                dtype, shape, offset = _read_header(p, stream)
                _check_declared(p, dtype, shape, spec, max_bytes)
            except DataError as exc:  # a damaged header: say how to get a good copy
                exc.hint = exc.hint or hint
                raise
            if not compressed:
                assert raw_size is not None
                _check_payload_length(p, shape, dtype, raw_size - offset, hint=hint)
            array = np.empty(shape, dtype=dtype)
            got = _fill(stream, array.data.cast("B"))
            if got < array.nbytes:
                _check_payload_length(p, shape, dtype, got, hint=hint)
            if compressed_input is not None:
                compressed_input.limit(TRAILING_COMPRESSED_LIMIT)
            extra = _count_trailing(stream)
            if extra:
                more = extra > TRAILING_LIMIT  # then reading stopped one byte past the limit
                actual = array.nbytes + min(extra, TRAILING_LIMIT)
                _check_payload_length(p, shape, dtype, actual, more=more, hint=hint)
        except (OSError, EOFError, zlib.error) as exc:
            if not compressed:
                raise DataError(
                    f"cannot read {p}: {getattr(exc, 'strerror', None) or exc}"
                ) from exc
            raise DataError(f"{p} is a damaged gzip file: {exc}", hint=hint) from exc
    if not array.dtype.isnative:
        array.byteswap(inplace=True)
        array = array.view(array.dtype.newbyteorder("="))
    return array


def write_idx(
    path: str | os.PathLike[str], array: npt.ArrayLike, *, compress: bool = False
) -> Path:
    """Write an array as an IDX file, atomically.

    Parameters
    ----------
    path : path-like
        The file to write. Its name does not decide the compression.
    array : array_like of shape (d1, ..., dk)
        1 to 4 dimensions, none of size 0, with an element type that IDX knows:
        uint8, int8, int16, int32, float32 or float64 (any byte order).
    compress : bool, default False
        Write it gzip-compressed (with a zero timestamp, so the same array
        always gives the same bytes).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    UsageError
        The array has an element type IDX cannot hold, no or too many
        dimensions, or a dimension of size 0.
    """
    arr = np.asarray(array)
    code = _type_code(arr.dtype)
    _check_writable_shape(arr.shape)
    header = struct.pack(f">BBBB{arr.ndim}I", 0, 0, code, arr.ndim, *arr.shape)
    payload = header + np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()
    if compress:
        payload = gzip.compress(payload, mtime=0)
    return gio.write_bytes(path, payload)


def describe_shape(shape: tuple[int, ...]) -> str:
    """Say in words what an array of ``shape`` holds: ``60000 images of 28x28``."""
    if len(shape) == 1:
        return f"{shape[0]} items"
    if len(shape) == 3:
        return f"{shape[0]} images of {shape[1]}x{shape[2]}"
    return f"{shape[0]} items of {'x'.join(map(str, shape[1:]))}"


class _CompressedInput:
    """The compressed file as :class:`gzip.GzipFile` reads it: a buffered file whose
    reads can be limited, once the declared data is read (:meth:`limit`)."""

    def __init__(self, path: Path, file: io.BufferedReader[Any], damaged_hint: str) -> None:
        self.path, self.file, self.hint = path, file, damaged_hint
        self.left: int | None = None  # bytes it may still give; None: no limit

    def limit(self, nbytes: int) -> None:
        """Give at most ``nbytes`` more; then raise a DataError, unless the file ends."""
        self.left = nbytes

    def read(self, size: int = -1, /) -> bytes:
        if self.left is None:
            return self.file.read(size)
        if self.left <= 0:
            if not self.file.peek(1):  # the file ends here: nothing was cut off
                return b""
            raise DataError(
                f"{self.path} goes on for more than {TRAILING_COMPRESSED_LIMIT} compressed "
                "bytes after its data (zero padding, or another gzip member): an IDX file "
                "ends where the data its header declares ends",
                hint=self.hint,
            )
        data = self.file.read(self.left if size is None or size < 0 else min(size, self.left))
        self.left -= len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()


@contextlib.contextmanager
def _open(
    path: Path, damaged_hint: str
) -> Iterator[tuple[_Stream, int | None, _CompressedInput | None]]:
    """Open ``path`` for streaming: the decompressed stream of a gzip file, else the file.

    Yields
    ------
    stream : binary file
        Unbuffered for a raw file (reads go straight into the caller's array),
        a :class:`gzip.GzipFile` (which decompresses only as much as is read)
        for a compressed one, reading through a buffer: it reads a header's
        stored name and comment a byte at a time.
    raw_size : int or None
        The size of a raw file; None for a compressed one, whose expanded size
        is not known before it is read.
    compressed_input : _CompressedInput or None
        What the gzip stream reads, for a compressed file (to limit it).
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise DataError(
                f"{path} is not a regular file; an IDX file must be a file on disk, "
                "not a device, a pipe or a folder"
            )
        with open(path, "rb", buffering=0) as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if not compressed:
                yield raw, info.st_size, None
                return
            buffered = io.BufferedReader(raw)
            _check_gzip_header(path, buffered, damaged_hint)
            buffered.seek(0)
            metered = _CompressedInput(path, buffered, damaged_hint)
            with gzip.GzipFile(fileobj=metered, mode="rb") as unpacked:
                yield unpacked, None, metered
    except OSError as exc:
        if isinstance(exc, GradlabError):  # the caller's own, raised inside the with block
            raise
        if isinstance(exc, FileNotFoundError):
            raise MissingFileError(f"cannot read {path}: {exc.strerror}", path=path) from None
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc


_FEXTRA, _FNAME, _FCOMMENT = 0x04, 0x08, 0x10  # gzip header flags (RFC 1952)


def _check_gzip_header(path: Path, stream: IO[bytes], damaged_hint: str) -> None:
    """Refuse a gzip header that stores a file name or comment over :data:`MAX_GZIP_FIELD`.

    Leaves ``stream`` anywhere; a header that ends early is left to
    :class:`gzip.GzipFile` to report.
    """
    head = stream.read(10)
    if len(head) < 10:
        return
    flags = head[3]
    if flags & _FEXTRA:
        size = stream.read(2)
        if len(size) < 2:
            return
        stream.seek(int.from_bytes(size, "little"), io.SEEK_CUR)
    for flag, what in ((_FNAME, "file name"), (_FCOMMENT, "comment")):
        if not flags & flag:
            continue
        start = stream.tell()
        field = stream.read(MAX_GZIP_FIELD + 1)
        end = field.find(b"\0")
        if end < 0:
            if len(field) > MAX_GZIP_FIELD:
                raise DataError(
                    f"{path} is a damaged gzip file: its header stores a {what} of more than "
                    f"{MAX_GZIP_FIELD} bytes (real ones take a few)",
                    hint=damaged_hint,
                )
            return
        stream.seek(start + end + 1)


def _read_exactly(stream: _Stream, n: int) -> bytes:
    """Read ``n`` bytes, or fewer only at the end of the stream."""
    data = b""
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            break
        data += more
    return data


def _fill(stream: _Stream, out: memoryview) -> int:
    """Read from ``stream`` into ``out`` a slice at a time until it is full or the stream ends.

    Returns
    -------
    int
        The number of bytes read.
    """
    pos = 0
    while pos < len(out):
        n = stream.readinto(out[pos : pos + _SLICE])
        if not n:
            break
        pos += n
    return pos


def _count_trailing(stream: _Stream) -> int:
    """Count the bytes left in ``stream``, reading no more than ``TRAILING_LIMIT + 1``."""
    count = 0
    while count <= TRAILING_LIMIT:
        chunk = stream.read(min(_SLICE, TRAILING_LIMIT + 1 - count))
        if not chunk:  # the end (a raw file read unbuffered gives b"", never None here)
            break
        count += len(chunk)
    return count


def _read_header(path: Path, stream: _Stream) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    """Read and check the IDX header at the start of ``stream``.

    Returns
    -------
    dtype : numpy.dtype
        The element type as stored (big-endian).
    shape : tuple of int
        The dimension sizes.
    offset : int
        Where the data starts.
    """
    preamble = _read_exactly(stream, _PREAMBLE)
    if len(preamble) < _PREAMBLE:
        raise DataError(
            f"{path} is too short to be an IDX file: it has {len(preamble)} bytes, "
            f"but an IDX header alone needs at least {_PREAMBLE + 4}"
        )
    zero1, zero2, code, ndim = preamble
    if zero1 or zero2:
        raise DataError(
            f"{path} is not an IDX file: it should start with two zero bytes, "
            f"but starts with {_show_bytes(preamble)}",
            hint="Check that it is one of the data set's files and not, say, an HTML error page.",
        )
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} ({t.name})" for c, t in IDX_TYPES.items())
        raise DataError(f"{path} has an unknown IDX type code 0x{code:02X}; known codes: {known}")
    if not 1 <= ndim <= MAX_DIMS:
        raise DataError(f"{path} declares {ndim} dimensions; an IDX data file has 1 to {MAX_DIMS}")
    sizes = _read_exactly(stream, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(
            f"{path} is truncated inside its header: it declares {ndim} dimensions "
            f"({4 * ndim} bytes of sizes) but only {len(sizes)} bytes follow"
        )
    shape = struct.unpack(f">{ndim}I", sizes)
    if 0 in shape:
        raise DataError(
            f"{path} declares a dimension of size 0 (shape {'x'.join(map(str, shape))}); "
            "a data file must hold at least one item"
        )
    return IDX_TYPES[code], shape, _PREAMBLE + 4 * ndim


def _check_declared(
    path: Path,
    dtype: np.dtype[Any],
    shape: tuple[int, ...],
    spec: IdxSpec | None,
    max_bytes: int,
) -> None:
    """Refuse a header that declares more than ``max_bytes`` or what ``spec`` does not allow."""
    nbytes = math.prod(shape) * dtype.itemsize
    declared = f"{path} declares {describe_shape(shape)} ({dtype.name}, {nbytes} bytes)"
    if spec is not None and not spec.accepts(dtype, shape):
        raise DataError(
            f"{declared}, but {spec.what} must be {spec.describe()}",
            hint="Check that the file is the one its name says, and not damaged.",
        )
    if nbytes > max_bytes:
        raise DataError(
            f"{declared}, more than the {max_bytes} bytes read_idx accepts",
            hint="A header that large is damaged or hostile; if the file is genuine, "
            "pass a larger max_bytes to read_idx.",
        )


def _show_bytes(data: bytes) -> str:
    """Show ``data`` in hex, and as text too when it is printable: ``3c 68 74 6d ('<htm')``."""
    text = data.decode("ascii", errors="replace")
    return data.hex(" ") + (f" ({text!r})" if text.isprintable() else "")


def _check_payload_length(
    path: Path,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    actual: int,
    *,
    more: bool = False,
    hint: str = DOWNLOAD_AGAIN,
) -> None:
    """Raise a DataError unless ``actual`` bytes of data are what the header promises.

    With ``more``, reading stopped after ``actual`` bytes and more follow.
    """
    expected = math.prod(shape) * dtype.itemsize
    if actual == expected:
        return
    promise = f"its header promises {describe_shape(shape)} ({expected} bytes)"
    if actual < expected:
        raise DataError(
            f"{path} is truncated: {promise} but only {actual} bytes follow",
            hint=hint,
        )
    over = "more than " if more else ""
    raise DataError(
        f"{path} has {over}{actual - expected} unexpected bytes after its data: "
        f"{promise} but {over}{actual} bytes follow",
        hint="Check that it is a single IDX file, not several joined together.",
    )


def _type_code(dtype: np.dtype[Any]) -> int:
    """Return the IDX type code for ``dtype``, whatever its byte order."""
    for code, idx_type in IDX_TYPES.items():
        if dtype.kind == idx_type.kind and dtype.itemsize == idx_type.itemsize:
            return code
    names = ", ".join(t.name for t in IDX_TYPES.values())
    raise UsageError(f"IDX cannot hold elements of type {dtype}; use one of {names}")


def _check_writable_shape(shape: tuple[int, ...]) -> None:
    """Raise a UsageError unless ``shape`` is one an IDX file can declare."""
    if not 1 <= len(shape) <= MAX_DIMS:
        raise UsageError(
            f"IDX holds arrays of 1 to {MAX_DIMS} dimensions, not {len(shape)} (shape {shape})"
        )
    if 0 in shape or max(shape) >= 2**32:
        raise UsageError(f"IDX cannot hold an array of shape {shape}: sizes must be 1 to 2**32-1")
