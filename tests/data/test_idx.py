"""IDX files: exact round trips, and a plain-words DataError for every kind of damage."""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import os
import re
import struct
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from gradlab.data.idx import (
    MAX_GZIP_FIELD,
    MAX_IDX_BYTES,
    TRAILING_COMPRESSED_LIMIT,
    TRAILING_LIMIT,
    IdxSpec,
    describe_shape,
    read_idx,
    write_idx,
)
from gradlab.errors import DataError, UsageError

IDX_DTYPES = ["u1", "i1", "<i2", ">i2", "<i4", ">i4", "<f4", ">f4", "<f8", ">f8"]


def header(code: int, *shape: int) -> bytes:
    """An IDX header for ``shape`` with element type ``code``."""
    return struct.pack(f">BBBB{len(shape)}I", 0, 0, code, len(shape), *shape)


def in_file(tmp_path: Path, content: bytes, name: str = "f-idx3-ubyte") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def damaged(path: Path) -> str:
    """The start of every DataError message about ``path``, as a regex."""
    return re.escape(str(path))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    array=arrays(
        dtype=st.sampled_from(IDX_DTYPES),
        shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5),
    ),
    compress=st.booleans(),
)
def test_round_trip_is_exact(tmp_path: Path, array: np.ndarray, compress: bool) -> None:
    path = write_idx(tmp_path / "a.idx", array, compress=compress)
    back = read_idx(path)
    native = array.dtype.newbyteorder("=")
    assert back.dtype == native
    assert back.shape == array.shape
    assert back.tobytes() == array.astype(native).tobytes()  # bit for bit, NaNs too


def test_read_array_is_writable_and_native(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "a", np.arange(6, dtype=">i4").reshape(2, 3))
    back = read_idx(path)
    assert back.flags.writeable
    assert back.dtype.isnative
    back[0, 0] = 7


def test_mnist_image_file_has_the_published_layout(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = write_idx(tmp_path / "train-images-idx3-ubyte", images)
    assert path.read_bytes()[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c")


def test_gzip_is_detected_by_content_not_by_name(tmp_path: Path) -> None:
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    packed = write_idx(tmp_path / "labels-without-ending", labels, compress=True)
    plain = write_idx(tmp_path / "labels.gz", labels)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert plain.read_bytes()[:2] == b"\x00\x00"
    np.testing.assert_array_equal(read_idx(packed), labels)
    np.testing.assert_array_equal(read_idx(plain), labels)


def test_compressed_output_does_not_depend_on_the_time(tmp_path: Path) -> None:
    a = write_idx(tmp_path / "a.gz", np.ones(4, np.uint8), compress=True).read_bytes()
    b = write_idx(tmp_path / "b.gz", np.ones(4, np.uint8), compress=True).read_bytes()
    assert a == b


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_images_say_how_many_bytes_were_promised(tmp_path: Path, compress: bool) -> None:
    content = header(0x08, 5, 4, 3) + bytes(50)
    path = in_file(tmp_path, gzip.compress(content) if compress else content)
    with pytest.raises(
        DataError,
        match=damaged(path)
        + re.escape(
            " is truncated: its header promises 5 images of 4x3 (60 bytes) but only 50 bytes follow"
        ),
    ):
        read_idx(path)


def test_truncated_labels_are_counted_as_items(tmp_path: Path) -> None:
    path = in_file(tmp_path, header(0x08, 10) + bytes(7))
    with pytest.raises(
        DataError, match=re.escape("promises 10 items (10 bytes) but only 7 bytes follow")
    ):
        read_idx(path)


def test_truncated_multibyte_data_counts_bytes(tmp_path: Path) -> None:
    path = in_file(tmp_path, header(0x0E, 3, 2) + bytes(47))
    with pytest.raises(
        DataError, match=re.escape("promises 3 items of 2 (48 bytes) but only 47 bytes follow")
    ):
        read_idx(path)


def test_trailing_bytes_are_an_error(tmp_path: Path) -> None:
    path = in_file(tmp_path, header(0x08, 2, 2, 2) + bytes(11))
    with pytest.raises(
        DataError,
        match=damaged(path)
        + re.escape(
            " has 3 unexpected bytes after its data: its header promises "
            "2 images of 2x2 (8 bytes) but 11 bytes follow"
        ),
    ):
        read_idx(path)


def test_nonzero_magic_bytes_are_not_an_idx_file(tmp_path: Path) -> None:
    path = in_file(tmp_path, b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(
        DataError,
        match=damaged(path) + " is not an IDX file: it should start with two zero bytes, "
        "but starts with 01 00 08 01",
    ):
        read_idx(path)


def test_html_error_page_is_not_an_idx_file(tmp_path: Path) -> None:
    path = in_file(tmp_path, b"<html><body>404 Not Found</body></html>")
    with pytest.raises(DataError, match=r"(?s)starts with 3c 68 74 6d \('<htm'\).*HTML error page"):
        read_idx(path)


def test_unknown_type_code_is_named(tmp_path: Path) -> None:
    path = in_file(tmp_path, header(0x0A, 1) + b"\x00")
    with pytest.raises(
        DataError,
        match=damaged(path) + " has an unknown IDX type code 0x0A; known codes: 0x08 \\(uint8\\)",
    ):
        read_idx(path)


@pytest.mark.parametrize("ndim", [0, 5])
def test_dimension_count_out_of_range(tmp_path: Path, ndim: int) -> None:
    path = in_file(tmp_path, bytes([0, 0, 8, ndim]) + struct.pack(f">{ndim}I", *[1] * ndim))
    with pytest.raises(DataError, match=f"declares {ndim} dimensions; an IDX data file has 1 to 4"):
        read_idx(path)


def test_truncated_header(tmp_path: Path) -> None:
    path = in_file(tmp_path, bytes([0, 0, 8, 3]) + bytes(5))
    with pytest.raises(
        DataError,
        match=re.escape(
            "is truncated inside its header: it declares 3 dimensions (12 bytes of sizes) "
            "but only 5 bytes follow"
        ),
    ):
        read_idx(path)


def test_file_shorter_than_a_header(tmp_path: Path) -> None:
    path = in_file(tmp_path, b"\x00\x00")
    with pytest.raises(DataError, match="is too short to be an IDX file: it has 2 bytes") as c:
        read_idx(path)
    assert c.value.hint == "Delete it and download it again."  # a damaged header says how


def test_empty_file(tmp_path: Path) -> None:
    path = in_file(tmp_path, b"")
    with pytest.raises(DataError, match="is too short to be an IDX file: it has 0 bytes") as c:
        read_idx(path, damaged_hint="Fetch it again.")
    assert c.value.hint == "Fetch it again."


def test_zero_size_dimension(tmp_path: Path) -> None:
    path = in_file(tmp_path, header(0x08, 0, 28, 28))
    with pytest.raises(
        DataError, match=re.escape("declares a dimension of size 0 (shape 0x28x28)")
    ) as caught:
        read_idx(path)
    assert caught.value.hint == "Delete it and download it again."


def test_corrupted_gzip_stream(tmp_path: Path) -> None:
    packed = bytearray(gzip.compress(header(0x08, 100) + bytes(range(100))))
    packed[15:25] = b"\xff" * 10
    path = in_file(tmp_path, bytes(packed))
    with pytest.raises(DataError, match=damaged(path) + " is a damaged gzip file"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    packed = gzip.compress(header(0x08, 1000) + bytes(1000))
    path = in_file(tmp_path, packed[: len(packed) // 2])
    with pytest.raises(DataError, match=damaged(path) + " is a damaged gzip file"):
        read_idx(path)


def test_gzip_with_a_wrong_crc(tmp_path: Path) -> None:
    packed = bytearray(gzip.compress(header(0x08, 3) + b"abc"))
    packed[-8] ^= 0xFF  # the CRC-32 of the trailer
    path = in_file(tmp_path, bytes(packed))
    with pytest.raises(DataError, match="is a damaged gzip file: CRC check failed"):
        read_idx(path)


def test_missing_file_is_a_data_error_and_a_file_not_found_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere-idx1-ubyte"
    with pytest.raises(DataError, match=f"cannot read {damaged(path)}: No such file") as caught:
        read_idx(path)
    assert isinstance(caught.value, FileNotFoundError)
    assert (caught.value.errno, caught.value.filename) == (errno.ENOENT, str(path))


@pytest.mark.parametrize("dtype", ["int64", "uint16", "float16", "bool", "complex64"])
def test_write_refuses_element_types_idx_cannot_hold(tmp_path: Path, dtype: str) -> None:
    with pytest.raises(UsageError, match=f"IDX cannot hold elements of type {dtype}; use one of"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=dtype))


@pytest.mark.parametrize("shape", [(), (1, 1, 1, 1, 1)])
def test_write_refuses_dimension_counts_idx_cannot_hold(
    tmp_path: Path, shape: tuple[int, ...]
) -> None:
    with pytest.raises(
        UsageError, match=f"IDX holds arrays of 1 to 4 dimensions, not {len(shape)}"
    ):
        write_idx(tmp_path / "a", np.zeros(shape, np.uint8))


def test_write_refuses_empty_arrays(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=re.escape("cannot hold an array of shape (0, 28)")):
        write_idx(tmp_path / "a", np.zeros((0, 28), np.uint8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("shape", "words"),
    [((7,), "7 items"), ((3, 28, 28), "3 images of 28x28"), ((2, 5), "2 items of 5")],
)
def test_shapes_are_described_in_words(shape: tuple[int, ...], words: str) -> None:
    assert describe_shape(shape) == words


# --- bounded memory: the header is checked before the data is read ---------------------------

MNIST_TRAIN_IMAGES = IdxSpec("mnist training images", "uint8", (None, 28, 28), 60000)


def peak_bytes_while(read: Callable[[], object]) -> int:
    """The peak of memory traced while ``read()`` runs (NumPy's arrays included)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with contextlib.suppress(DataError):
            read()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def gzip_bomb(path: Path, header_bytes: bytes, expanded: int) -> Path:
    """Write ``header_bytes`` then ``expanded`` zero bytes, gzip-compressed."""
    packer = zlib.compressobj(1, wbits=31)  # 31: a gzip wrapper
    zeros = bytes(1 << 20)
    with open(path, "wb") as out:
        out.write(packer.compress(header_bytes))
        for _ in range(expanded // len(zeros)):
            out.write(packer.compress(zeros))
        out.write(packer.flush())
    return path


def test_a_header_that_declares_a_billion_images_is_refused_before_anything_is_allocated(
    tmp_path: Path,
) -> None:
    path = gzip_bomb(tmp_path / "bomb.gz", header(0x08, 10**9, 28, 28), 8 << 20)
    with pytest.raises(DataError) as caught:
        read_idx(path)
    assert str(caught.value) == (
        f"{path} declares 1000000000 images of 28x28 (uint8, 784000000000 bytes), more than "
        f"the {MAX_IDX_BYTES} bytes read_idx accepts\n"
        "A header that large is damaged or hostile; if the file is genuine, pass a larger "
        "max_bytes to read_idx."
    )
    assert peak_bytes_while(lambda: read_idx(path)) < 1 << 20


def test_a_spec_refuses_a_declaration_the_data_set_cannot_have(tmp_path: Path) -> None:
    path = gzip_bomb(tmp_path / "bomb.gz", header(0x08, 60001, 28, 28), 1 << 20)
    with pytest.raises(DataError) as caught:
        read_idx(path, spec=MNIST_TRAIN_IMAGES)
    assert str(caught.value).startswith(
        f"{path} declares 60001 images of 28x28 (uint8, 47040784 bytes), but mnist training "
        "images must be at most 60000 images of 28x28 (uint8)\n"
    )
    assert peak_bytes_while(lambda: read_idx(path, spec=MNIST_TRAIN_IMAGES)) < 1 << 20


@pytest.mark.parametrize("compress", [False, True])
def test_a_spec_accepts_exactly_max_items_and_refuses_one_more(
    tmp_path: Path, compress: bool
) -> None:
    spec = IdxSpec("test labels", "uint8", (None,), 3)
    full = write_idx(tmp_path / "three", np.array([7, 8, 9], np.uint8), compress=compress)
    np.testing.assert_array_equal(read_idx(full, spec=spec), [7, 8, 9])
    over = write_idx(tmp_path / "four", np.array([7, 8, 9, 10], np.uint8), compress=compress)
    with pytest.raises(DataError) as caught:
        read_idx(over, spec=spec)
    assert str(caught.value) == (
        f"{over} declares 4 items (uint8, 4 bytes), but test labels must be at most 3 items "
        "(uint8)\nCheck that the file is the one its name says, and not damaged."
    )


def test_a_stream_that_expands_far_beyond_its_header_is_stopped_in_bounded_memory(
    tmp_path: Path,
) -> None:
    expanded = 64 << 20  # 64 MiB of zeros behind a header that declares 7840 bytes
    path = gzip_bomb(tmp_path / "bomb.gz", header(0x08, 10, 28, 28), expanded)
    assert path.stat().st_size < expanded // 100
    with pytest.raises(DataError) as caught:
        read_idx(path, spec=MNIST_TRAIN_IMAGES)
    assert str(caught.value).startswith(
        f"{path} has more than {TRAILING_LIMIT} unexpected bytes after its data: its header "
        f"promises 10 images of 28x28 (7840 bytes) but more than {7840 + TRAILING_LIMIT} "
        "bytes follow"
    )
    # the array of 7840 bytes, a slice of the trailing data, and gzip's buffers
    assert peak_bytes_while(lambda: read_idx(path)) < 4 * TRAILING_LIMIT


def test_a_raw_file_shorter_than_its_header_declares_is_refused_before_allocating(
    tmp_path: Path,
) -> None:
    path = in_file(tmp_path, header(0x08, 50000, 28, 28) + bytes(10))
    with pytest.raises(DataError, match=re.escape("but only 10 bytes follow")):
        read_idx(path)
    assert peak_bytes_while(lambda: read_idx(path)) < 1 << 20


def test_memory_follows_the_declared_size_in_a_fresh_process(tmp_path: Path) -> None:
    """RSS, not only traced memory: a genuine 47 MB file against a bomb of 128 MiB of zeros."""
    good = write_idx(tmp_path / "good", np.zeros((60000, 28, 28), np.uint8))
    bomb = gzip_bomb(tmp_path / "bomb.gz", header(0x08, 60000, 28, 28), 128 << 20)
    probe = (
        "import resource, sys\n"
        "from gradlab.data.idx import read_idx\n"
        "try:\n    read_idx(sys.argv[1])\nexcept ValueError:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def peak_rss_kib(path: Path) -> int:
        run = subprocess.run(
            [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, env=env
        )
        assert run.returncode == 0, run.stderr
        return int(run.stdout)

    # the bomb costs what the genuine file costs (its declared 47 MB), not its 128 MiB
    assert peak_rss_kib(bomb) < peak_rss_kib(good) + 16 * 1024


def test_a_global_cap_can_be_lowered(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "a", np.zeros(100, np.uint8))
    with pytest.raises(DataError, match=re.escape("(uint8, 100 bytes), more than the 50 bytes")):
        read_idx(path, max_bytes=50)
    assert read_idx(path, max_bytes=100).shape == (100,)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "images-idx3-ubyte"
    os.mkfifo(fifo)
    with pytest.raises(DataError) as caught:
        read_idx(fifo)
    assert str(caught.value) == (
        f"{fifo} is not a regular file; an IDX file must be a file on disk, "
        "not a device, a pipe or a folder"
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_device_is_refused() -> None:
    with pytest.raises(DataError, match=r"^/dev/zero is not a regular file"):
        read_idx("/dev/zero")


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"^{damaged(tmp_path)} is not a regular file"):
        read_idx(tmp_path)


# --- gzip headers that store a file name or comment ------------------------------------------


def gzip_with_fields(payload: bytes, *, name: bytes = b"", comment: bytes = b"") -> bytes:
    """``payload`` gzip-compressed, with a stored file name and comment when given (the
    gzip module writes no comment, so the member is put together here, after RFC 1952)."""
    flags = (0x08 if name else 0) | (0x10 if comment else 0)
    head = b"\x1f\x8b\x08" + bytes([flags]) + bytes(4) + b"\x00\xff"
    fields = (name + b"\x00" if name else b"") + (comment + b"\x00" if comment else b"")
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflate.compress(payload) + deflate.flush()
    tail = struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)
    return head + fields + body + tail


IDX_PAYLOAD = header(0x08, 3, 2) + bytes(range(6))


@pytest.mark.parametrize("field", ["name", "comment"])
def test_a_huge_stored_name_or_comment_is_refused_naming_the_file(
    tmp_path: Path, field: str
) -> None:
    """The gzip module reads these fields a byte at a time, unbuffered: 5 MB took 12 s."""
    path = in_file(tmp_path, gzip_with_fields(IDX_PAYLOAD, **{field: b"a" * (5 << 20)}))
    with pytest.raises(DataError) as caught:
        read_idx(path)
    what = "file name" if field == "name" else "comment"
    assert str(caught.value) == (
        f"{path} is a damaged gzip file: its header stores a {what} of more than 65536 bytes "
        "(real ones take a few)\nDelete it and download it again."
    )


def test_a_stored_name_and_comment_up_to_the_bound_are_read_through_a_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name of 64 KiB read byte by byte is 64 Ki system calls; through a buffer, a few."""
    import gradlab.data.idx as idx

    reads = 0

    class CountingFile(io.FileIO):
        def read(self, size: int = -1, /) -> bytes:
            nonlocal reads
            reads += 1
            return super().read(size)

        def readinto(self, buffer: Any, /) -> int:
            nonlocal reads
            reads += 1
            return super().readinto(buffer)

    def counting_open(path: Path, mode: str, buffering: int = -1) -> io.FileIO:
        assert (mode, buffering) == ("rb", 0)
        return CountingFile(path, "r")

    monkeypatch.setattr(idx, "open", counting_open, raising=False)
    fields = {"name": b"n" * (1 << 16), "comment": b"c" * (1 << 16)}
    path = in_file(tmp_path, gzip_with_fields(IDX_PAYLOAD, **fields))
    np.testing.assert_array_equal(read_idx(path), np.arange(6, dtype=np.uint8).reshape(3, 2))
    assert reads < 50


def past_the_compressed_limit(path: Path) -> str:
    return (
        f"{path} goes on for more than {TRAILING_COMPRESSED_LIMIT} compressed bytes after its "
        "data (zero padding, or another gzip member): an IDX file ends where the data its "
        "header declares ends\nDelete it and download it again."
    )


@pytest.mark.parametrize(
    "after",
    [
        pytest.param(bytes(3 * TRAILING_COMPRESSED_LIMIT), id="zero-padding"),
        pytest.param(gzip_with_fields(b"", name=b"n" * MAX_GZIP_FIELD) * 64, id="more-members"),
    ],
)
def test_what_follows_a_member_is_read_only_so_far(tmp_path: Path, after: bytes) -> None:
    """The gzip module skips zero padding, and reads a further member's stored name, a
    byte at a time: 64 MiB of padding took 12 s, and only the first member's header was
    checked for a huge name."""
    path = in_file(tmp_path, gzip.compress(IDX_PAYLOAD) + after)
    with pytest.raises(DataError) as caught:
        read_idx(path)
    assert str(caught.value) == past_the_compressed_limit(path)


@pytest.mark.parametrize(
    "after",
    [
        pytest.param(bytes(512), id="zero-padding"),
        pytest.param(gzip.compress(b""), id="an-empty-member"),
        pytest.param(bytes(TRAILING_COMPRESSED_LIMIT - 64), id="padding-up-to-the-limit"),
    ],
)
def test_a_member_followed_by_padding_or_empty_members_is_read(
    tmp_path: Path, after: bytes
) -> None:
    path = in_file(tmp_path, gzip.compress(IDX_PAYLOAD) + after)
    np.testing.assert_array_equal(read_idx(path), np.arange(6, dtype=np.uint8).reshape(3, 2))


def test_data_beyond_the_declared_size_is_still_counted_in_decompressed_bytes(
    tmp_path: Path,
) -> None:
    """Random bytes barely compress: the compressed limit leaves room to count
    ``TRAILING_LIMIT`` decompressed bytes past the data first."""
    extra = np.random.default_rng(0).bytes(TRAILING_LIMIT + 4096)
    path = in_file(tmp_path, gzip.compress(IDX_PAYLOAD + extra))
    with pytest.raises(DataError, match=f"has more than {TRAILING_LIMIT} unexpected bytes"):
        read_idx(path)


def test_a_damaged_file_gets_the_hint_it_is_given(tmp_path: Path) -> None:
    path = in_file(tmp_path, gzip.compress(IDX_PAYLOAD)[:-12])
    with pytest.raises(DataError) as caught:
        read_idx(path, damaged_hint="Replace it.")
    assert caught.value.hint == "Replace it."
