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
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gradlab import io as gio
from gradlab.errors import DataError, UsageError

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

_GZIP_MAGIC = b"\x1f\x8b"
_PREAMBLE = 4  # two zero bytes, the type code, the number of dimensions


def read_idx(path: str | os.PathLike[str]) -> npt.NDArray[Any]:
    """Read an IDX file, raw or gzip-compressed.

    Parameters
    ----------
    path : path-like
        The file. It is decompressed when it starts with the gzip magic bytes.

    Returns
    -------
    ndarray of shape (d1, ..., dk)
        The array, in native byte order, writable, with the dtype that the
        file's type code names (uint8 for MNIST images and labels).

    Raises
    ------
    DataError
        The file cannot be read; it is a damaged gzip file; its header is not
        that of an IDX file (bad zero bytes, unknown type code, no or too many
        dimensions, a dimension of size 0); or its data is shorter or longer
        than the header promises. The message names the file.
    """
    p = Path(path)
    content = _decompress(p, _read_file(p))
    dtype, shape, offset = _parse_header(p, content)
    _check_payload_length(p, shape, dtype, len(content) - offset)
    array = np.frombuffer(content, dtype=dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


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


def _read_file(path: Path) -> bytes:
    """Return the bytes of ``path``; turn a missing or unreadable file into a DataError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _decompress(path: Path, content: bytes) -> bytes:
    """Return ``content`` decompressed when it starts with the gzip magic bytes."""
    if not content.startswith(_GZIP_MAGIC):
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path} is a damaged gzip file: {exc}",
            hint="Delete it and download it again.",
        ) from exc


def _parse_header(path: Path, content: bytes) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    """Check the IDX header of ``content``.

    Returns
    -------
    dtype : numpy.dtype
        The element type as stored (big-endian).
    shape : tuple of int
        The dimension sizes.
    offset : int
        Where the data starts.
    """
    if len(content) < _PREAMBLE:
        raise DataError(
            f"{path} is too short to be an IDX file: it has {len(content)} bytes, "
            f"but an IDX header alone needs at least {_PREAMBLE + 4}"
        )
    zero1, zero2, code, ndim = content[:_PREAMBLE]
    if zero1 or zero2:
        raise DataError(
            f"{path} is not an IDX file: it should start with two zero bytes, "
            f"but starts with {_show_bytes(content[:_PREAMBLE])}",
            hint="Check that it is one of the data set's files and not, say, an HTML error page.",
        )
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} ({t.name})" for c, t in IDX_TYPES.items())
        raise DataError(f"{path} has an unknown IDX type code 0x{code:02X}; known codes: {known}")
    if not 1 <= ndim <= MAX_DIMS:
        raise DataError(f"{path} declares {ndim} dimensions; an IDX data file has 1 to {MAX_DIMS}")
    offset = _PREAMBLE + 4 * ndim
    if len(content) < offset:
        raise DataError(
            f"{path} is truncated inside its header: it declares {ndim} dimensions "
            f"({4 * ndim} bytes of sizes) but only {len(content) - _PREAMBLE} bytes follow"
        )
    shape = struct.unpack(f">{ndim}I", content[_PREAMBLE:offset])
    if 0 in shape:
        raise DataError(
            f"{path} declares a dimension of size 0 (shape {'x'.join(map(str, shape))}); "
            "a data file must hold at least one item"
        )
    return IDX_TYPES[code], shape, offset


def _show_bytes(data: bytes) -> str:
    """Show ``data`` in hex, and as text too when it is printable: ``3c 68 74 6d ('<htm')``."""
    text = data.decode("ascii", errors="replace")
    return data.hex(" ") + (f" ({text!r})" if text.isprintable() else "")


def _check_payload_length(
    path: Path, shape: tuple[int, ...], dtype: np.dtype[Any], actual: int
) -> None:
    """Raise a DataError unless ``actual`` bytes of data are what the header promises."""
    expected = math.prod(shape) * dtype.itemsize
    if actual == expected:
        return
    promise = f"its header promises {describe_shape(shape)} ({expected} bytes)"
    if actual < expected:
        raise DataError(
            f"{path} is truncated: {promise} but only {actual} bytes follow",
            hint="Delete it and download it again.",
        )
    raise DataError(
        f"{path} has {actual - expected} unexpected bytes after its data: "
        f"{promise} but {actual} bytes follow",
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
