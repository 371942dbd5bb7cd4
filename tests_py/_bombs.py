"""Compression bombs: gzip and brotli streams that expand to many zero bytes, built in well
under a second. The tests send them; bench/bench_compression.py times their rejection."""

from __future__ import annotations

import zlib

BLOCK = 1 << 20
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
# After a full flush the deflate stream is byte aligned, so this byte starts a new block:
# BFINAL=1 with the reserved block type 3, which every inflater rejects.
_BAD_DEFLATE_BLOCK = b"\x07garbage"


def _blocks(total: int) -> int:
    if total < BLOCK or total % BLOCK:
        raise ValueError(f"a bomb expands to a whole number of MiB, not {total} bytes")
    return total // BLOCK


def gzip_bomb(total: int, *, corrupt_tail: bool = False) -> bytes:
    """One gzip member expanding to ``total`` zero bytes (a multiple of 1 MiB; about 1 MB of
    gzip per GiB).

    After a full flush deflate starts afresh, so every 1 MiB block of zeros compresses to the
    same bytes: one block is compressed and repeated. With ``corrupt_tail`` the stream goes on
    with an invalid deflate block instead of ending, so only a decoder that stops at its
    output limit reports the size rather than the damage.
    """
    blocks = _blocks(total)
    zeros = bytes(BLOCK)
    encoder = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = encoder.compress(zeros) + encoder.flush(zlib.Z_FULL_FLUSH)
    repeated = encoder.compress(zeros) + encoder.flush(zlib.Z_FULL_FLUSH)
    stream = _GZIP_HEADER + first + repeated * (blocks - 1)
    if corrupt_tail:
        return stream + _BAD_DEFLATE_BLOCK
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    trailer = crc.to_bytes(4, "little") + (total & 0xFFFFFFFF).to_bytes(4, "little")
    return stream + encoder.flush(zlib.Z_FINISH) + trailer


def brotli_bomb(
    total: int, *, corrupt_tail: bool = False, quality: int = 1, lgwin: int = 22
) -> bytes:
    """A brotli stream expanding to ``total`` zero bytes (a multiple of 1 MiB).

    Quality 1 is quick on zeros; ``lgwin`` is the window the stream asks its decoder to keep
    (24, 16 MiB, is the largest standard one). With ``corrupt_tail`` every block is flushed
    and the stream goes on with bytes that are not brotli instead of ending.
    """
    import brotli

    blocks = _blocks(total)
    encoder = brotli.Compressor(quality=quality, lgwin=lgwin)
    zeros = bytes(BLOCK)
    parts = []
    for _ in range(blocks):
        parts.append(encoder.process(zeros))
        if corrupt_tail:
            parts.append(encoder.flush())  # all of it decodable before the damage
    parts.append(b"\xff" * 64 if corrupt_tail else encoder.finish())
    return b"".join(parts)
