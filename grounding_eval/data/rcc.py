"""A small reader for Qt binary resource files (.rcc), enough to pull recordings out of them.

GCompris ships its sounds inside .rcc bundles. Reading them in Python avoids a dependency on Qt's
`rcc` tool or PySide just to extract a few dozen ogg files.

Layout (all integers big-endian):
  header   b"qres", u32 version, u32 tree offset, u32 data offset, u32 names offset,
           and from version 3 on a u32 flags field;
  tree     an array of nodes, 14 bytes each in version 1 and 22 bytes from version 2 on:
           u32 name offset, u16 flags, then
             directory (flag 2): u32 child count, u32 index of the first child;
             file:               u16 country, u16 language, u32 data offset;
           followed (v2+) by a u64 last-modified time. Node 0 is the root directory;
  names    u16 length, u32 hash, then `length` UTF-16BE code units;
  data     u32 length, then that many bytes. With flag 1 the bytes are Qt's qCompress form
           (u32 uncompressed length, then a zlib stream); with flag 4 they are zstd.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

FLAG_COMPRESSED = 1
FLAG_DIRECTORY = 2
FLAG_COMPRESSED_ZSTD = 4


class RccError(ValueError):
    """The file is not a readable .rcc resource bundle."""


class _Reader:
    """Bounds-checked access to the sections of one .rcc file held in memory."""

    def __init__(self, blob: bytes, origin: str) -> None:
        self.blob = blob
        self.origin = origin
        if len(blob) < 20 or blob[:4] != b"qres":
            raise RccError(f"{origin}: not a Qt resource file (no 'qres' header)")
        self.version, self.tree, self.data, self.names = struct.unpack_from(">IIII", blob, 4)
        if self.version not in (1, 2, 3):
            raise RccError(f"{origin}: unsupported .rcc format version {self.version}")
        self.node_size = 14 if self.version == 1 else 22

    def _unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        if offset < 0 or offset + struct.calcsize(fmt) > len(self.blob):
            raise RccError(f"{self.origin}: truncated (read past end at offset {offset})")
        return struct.unpack_from(fmt, self.blob, offset)

    def node(self, index: int) -> tuple[int, int, int, int]:
        """(name offset, flags, a, b): a, b = child count, first child (dir) or 0, data offset (file)."""
        off = self.tree + index * self.node_size
        name_off, flags = self._unpack(">IH", off)
        if flags & FLAG_DIRECTORY:
            count, first = self._unpack(">II", off + 6)
            return name_off, flags, count, first
        _country, _language, data_off = self._unpack(">HHI", off + 6)
        return name_off, flags, 0, data_off

    def name(self, name_off: int) -> str:
        off = self.names + name_off
        (length,) = self._unpack(">H", off)
        start = off + 6  # skip the u16 length and the u32 hash
        end = start + 2 * length
        if end > len(self.blob):
            raise RccError(f"{self.origin}: truncated name at offset {off}")
        return self.blob[start:end].decode("utf-16-be")

    def payload(self, data_off: int) -> bytes:
        off = self.data + data_off
        (length,) = self._unpack(">I", off)
        end = off + 4 + length
        if end > len(self.blob):
            raise RccError(f"{self.origin}: truncated data entry at offset {off}")
        return self.blob[off + 4 : end]


def _inflate(raw: bytes, origin: str, vpath: str) -> bytes:
    """Undo qCompress: a u32 uncompressed length, then a zlib stream."""
    if len(raw) < 4:
        raise RccError(f"{origin}:{vpath}: compressed entry shorter than its length prefix")
    (expected,) = struct.unpack_from(">I", raw, 0)
    try:
        out = zlib.decompress(raw[4:])
    except zlib.error as exc:
        raise RccError(f"{origin}:{vpath}: bad zlib stream ({exc})") from exc
    if len(out) != expected:
        raise RccError(f"{origin}:{vpath}: inflated to {len(out)} bytes, header says {expected}")
    return out


def iter_rcc_files(
    path: str | Path, unsupported: list[str] | None = None
) -> Iterator[tuple[str, bytes]]:
    """Yield (virtual path inside the rcc, content) for every file in a .rcc bundle, depth first.

    Virtual paths are '/'-joined names from the root, without Qt's leading ':/'. Entries compressed
    with zstd are not decoded (the stdlib has no zstd); their paths are appended to `unsupported`
    when given, otherwise a warning names them.
    """
    origin = str(path)
    reader = _Reader(Path(path).read_bytes(), origin)
    # Only nodes inside the tree section can be valid; this bounds the walk on corrupt files.
    max_nodes = max(0, (len(reader.blob) - reader.tree) // reader.node_size)
    seen: set[int] = set()
    stack: list[tuple[int, str]] = [(0, "")]
    while stack:
        index, prefix = stack.pop()
        if index in seen or index >= max_nodes:
            raise RccError(f"{origin}: tree node {index} repeated or out of range")
        seen.add(index)
        name_off, flags, a, b = reader.node(index)
        # The root's name is empty by convention; don't read a name for it.
        name = reader.name(name_off) if index else ""
        vpath = f"{prefix}/{name}" if prefix else name
        if flags & FLAG_DIRECTORY:
            # Push in reverse so children come out in their stored (sorted-by-hash) order.
            stack.extend((child, vpath) for child in reversed(range(b, b + a)))
            continue
        raw = reader.payload(b)
        if flags & FLAG_COMPRESSED_ZSTD:
            if unsupported is not None:
                unsupported.append(vpath)
            else:
                warnings.warn(f"{origin}:{vpath}: zstd-compressed entry skipped", stacklevel=2)
            continue
        yield vpath, _inflate(raw, origin, vpath) if flags & FLAG_COMPRESSED else raw
