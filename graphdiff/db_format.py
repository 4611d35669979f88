"""The blob format of the graph database: named tensors as raw bytes behind a small header.

No pickle: a blob is ``GDG1``, a count, then per tensor its name, dtype code, shape and raw
little-endian bytes. Any dtype in ``_DTYPES`` round-trips exactly.
"""

from __future__ import annotations

import math
import struct

import torch

from graphdiff.errors import DataError

__all__ = ["encode_tensors", "decode_tensors", "DatabaseError"]


class DatabaseError(DataError):
    """A graph database cannot be opened, read or written; the message names the file."""


_MAGIC = b"GDG1"
_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
           torch.int16, torch.int8, torch.uint8, torch.bool]
_CODE = {dt: k for k, dt in enumerate(_DTYPES)}
_ITEMSIZE = [torch.empty((), dtype=dt).element_size() for dt in _DTYPES]

def encode_tensors(tensors: dict[str, torch.Tensor]) -> bytes:
    """Serialise named tensors into one blob (no pickle).

    Layout (little-endian): ``b"GDG1"``, ``uint16`` count, then per tensor ``uint8`` name
    length, the UTF-8 name, ``uint8`` dtype code, ``uint8`` ndim and ``ndim × uint32`` sizes;
    then the raw bytes of every tensor (C order, the host's byte order: little-endian on x86 and
    ARM) in the same order.

    Parameters
    ----------
    tensors:
        ``name -> tensor`` of any shape (``[n]``, ``[n, d]``, ``[2, E]``, ``[]``...) and a dtype
        of ``float16/32/64``, ``bfloat16``, ``int8/16/32/64``, ``uint8`` or ``bool``.
    """
    head, body = [_MAGIC, struct.pack("<H", len(tensors))], []
    for name, t in tensors.items():
        if t.dtype not in _CODE:
            raise DatabaseError(f"tensor {name!r}: dtype {t.dtype} cannot be stored")
        raw = name.encode()
        if len(raw) > 255 or t.dim() > 255:
            raise DatabaseError(f"tensor {name!r}: name longer than 255 bytes or more than 255 dimensions")
        head.append(struct.pack(f"<B{len(raw)}sBB{t.dim()}I", len(raw), raw, _CODE[t.dtype], t.dim(), *t.shape))
        body.append(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return b"".join(head + body)


def decode_tensors(blob: bytes) -> dict[str, torch.Tensor]:
    """Inverse of :func:`encode_tensors`; raises :class:`DatabaseError` on a damaged blob."""
    try:
        if blob[:4] != _MAGIC:
            raise ValueError("bad magic")
        (count,), off, metas = struct.unpack_from("<H", blob, 4), 6, []
        for _ in range(count):
            n = blob[off]
            name = blob[off + 1:off + 1 + n].decode()
            code, ndim = blob[off + 1 + n], blob[off + 2 + n]
            shape = struct.unpack_from(f"<{ndim}I", blob, off + 3 + n)
            off += 3 + n + 4 * ndim
            metas.append((name, code, shape))
        out = {}
        for name, code, shape in metas:
            nbytes = math.prod(shape) * _ITEMSIZE[code]
            if off + nbytes > len(blob):
                raise ValueError("truncated")
            out[name] = (torch.frombuffer(bytearray(blob[off:off + nbytes]), dtype=_DTYPES[code]).reshape(shape)
                         if nbytes else torch.empty(shape, dtype=_DTYPES[code]))
            off += nbytes
        if off != len(blob):
            raise ValueError(f"{len(blob) - off} trailing bytes")
    except (ValueError, IndexError, struct.error) as exc:
        raise DatabaseError(f"damaged graph blob: {exc}") from None
    return out
