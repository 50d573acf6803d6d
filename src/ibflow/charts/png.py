"""Encode an RGB(A) pixel buffer as a PNG: 8-bit RGB, no ancillary chunks, so the bytes depend on pixels only.

Charts are large flat areas with thin lines; unfiltered scanlines with zlib compress them smaller and several
times faster than Pillow's adaptive filtering (the path ``Figure.savefig`` takes).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COMPRESSION_LEVEL = 3


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(pixels: npt.NDArray[np.uint8]) -> bytes:
    """Return PNG bytes for an ``(height, width, 3 or 4)`` uint8 array; an alpha channel is dropped."""
    height, width, _channels = pixels.shape
    rows = np.empty((height, 1 + width * 3), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "None" on every scanline
    rows[:, 1:] = pixels[:, :, :3].reshape(height, width * 3)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour, no interlace
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), COMPRESSION_LEVEL)),
            _chunk(b"IEND", b""),
        )
    )
