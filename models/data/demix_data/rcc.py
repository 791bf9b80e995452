"""Minimal reader for Qt binary resource files (.rcc), used to pull the
recorded sounds out of Debian's gcompris-qt-data without Qt tools."""
from __future__ import annotations

import struct
import zlib


def _name(buf: bytes, names_off: int, off: int) -> str:
    p = names_off + off
    n = struct.unpack(">H", buf[p:p + 2])[0]
    return buf[p + 6:p + 6 + 2 * n].decode("utf-16-be")


def list_rcc(path: str) -> dict[str, tuple[int, int]]:
    """Return {resource_path: (data_offset, flags)} for all files in the rcc."""
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:4] != b"qres":
        raise ValueError(f"{path}: not a Qt rcc file")
    version, tree_off, data_off, names_off = struct.unpack(">IIII", buf[4:20])
    entry = 14 if version < 2 else 22
    out: dict[str, tuple[int, int]] = {}

    def walk(idx: int, prefix: str) -> None:
        p = tree_off + idx * entry
        name_off, flags = struct.unpack(">IH", buf[p:p + 6])
        name = _name(buf, names_off, name_off) if idx else ""
        path_ = f"{prefix}/{name}" if name else prefix
        if flags & 2:  # directory
            count, first = struct.unpack(">II", buf[p + 6:p + 14])
            for c in range(first, first + count):
                walk(c, path_)
        else:
            doff = struct.unpack(">I", buf[p + 10:p + 14])[0]
            out[path_] = (data_off + doff, flags)

    walk(0, "")
    return out


def read_rcc_file(path: str, resource: str) -> bytes:
    with open(path, "rb") as f:
        buf = f.read()
    off, flags = list_rcc(path)[resource]
    size = struct.unpack(">I", buf[off:off + 4])[0]
    data = buf[off + 4:off + 4 + size]
    if flags & 1:
        data = zlib.decompress(data[4:])
    elif flags & 4:
        import zstandard  # pragma: no cover - not used by gcompris 3.1

        data = zstandard.ZstdDecompressor().decompress(data)
    return data
