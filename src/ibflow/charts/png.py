"""Encode an RGB(A) pixel buffer as an 8-bit palette PNG, no ancillary chunks: bytes depend on pixels only.

A chart is a few flat colours (background, grid, candles, lines, text) plus the anti-aliased fringes
between them: some 1,500 distinct colours of which a couple of hundred cover 99% of the pixels. The
palette holds the ``PALETTE_SIZE`` most frequent colours exactly (ties in order of first appearance, so
the bytes are deterministic); each rarer fringe colour takes its nearest palette colour. Every flat colour
stays exact and only about 1% of the pixels, all on edges, change, which the eye does not see; the file is
about half the truecolour one. Images with at most ``PALETTE_SIZE`` colours round-trip exactly.
Unfiltered scanlines suit palette indices (filters help smooth truecolour, not indices).
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COMPRESSION_LEVEL = 3
"""zlib level: 3 takes 4 ms for a 1200x800 chart and 6 takes 10 ms, for a file about 15% smaller."""
PALETTE_SIZE = 256
_NEAREST_CHUNK = 4096  # rare colours matched to the palette per step, bounding the distance table's memory


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _rgb(keys: npt.NDArray[np.integer]) -> npt.NDArray[np.int32]:
    return np.stack([(keys >> 16) & 0xFF, (keys >> 8) & 0xFF, keys & 0xFF], axis=1).astype(np.int32)


def _rgb_packed(keys: npt.NDArray[np.integer]) -> npt.NDArray[np.int32]:
    return np.stack([keys & 0xFF, (keys >> 8) & 0xFF, (keys >> 16) & 0xFF], axis=1).astype(np.int32)


def _keys(
    pixels: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.uint32], Callable[[npt.NDArray[np.integer]], npt.NDArray[np.int32]]]:
    """Return one integer per pixel naming its colour, and how to turn such integers back into RGB.

    An RGBA buffer in memory order is read as little-endian 32-bit words with the alpha masked off (no
    copy per channel); anything else is packed as ``r << 16 | g << 8 | b``. Either way equal colours get
    equal integers, so the palette and indices are the same (factorize keeps order of first appearance).
    """
    if pixels.shape[2] == 4 and pixels.flags.c_contiguous and sys.byteorder == "little":
        return pixels.view(np.uint32).reshape(-1) & np.uint32(0x00FFFFFF), _rgb_packed
    rgb = pixels[:, :, :3].astype(np.uint32)
    keys = ((rgb[:, :, 0] << 16) | (rgb[:, :, 1] << 8) | rgb[:, :, 2]).ravel()
    return np.asarray(keys, dtype=np.uint32), _rgb


def quantize(pixels: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Return ``(indices, palette)``: an ``(height, width)`` index per pixel and the ``(n, 3)`` palette."""
    height, width, _channels = pixels.shape
    keys, rgb = _keys(pixels)
    codes, uniques = pd.factorize(keys, sort=False)
    uniques = np.asarray(uniques, dtype=np.uint32)
    order = np.argsort(-np.bincount(codes, minlength=len(uniques)), kind="stable")
    kept, rare = order[:PALETTE_SIZE], order[PALETTE_SIZE:]
    palette = rgb(uniques[kept])
    lookup = np.empty(len(uniques), dtype=np.uint8)
    lookup[kept] = np.arange(len(kept), dtype=np.uint8)
    for start in range(0, len(rare), _NEAREST_CHUNK):
        part = rare[start : start + _NEAREST_CHUNK]
        distance = ((rgb(uniques[part])[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
        lookup[part] = distance.argmin(axis=1).astype(np.uint8)
    return lookup[codes].reshape(height, width), palette.astype(np.uint8)


def encode_png(pixels: npt.NDArray[np.uint8]) -> bytes:
    """Return palette PNG bytes for an ``(height, width, 3 or 4)`` uint8 array; alpha is dropped."""
    height, width, _channels = pixels.shape
    indices, palette = quantize(pixels)
    rows = np.empty((height, 1 + width), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "None" on every scanline
    rows[:, 1:] = indices
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit palette, no interlace
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"PLTE", palette.tobytes()),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), COMPRESSION_LEVEL)),
            _chunk(b"IEND", b""),
        )
    )
