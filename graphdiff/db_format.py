"""The blob format of the graph database: named tensors as raw bytes behind a small header.

No pickle: a blob is ``GDG1``, a count, then per tensor its name, dtype code, shape and raw
little-endian bytes. Any dtype in ``_DTYPES`` round-trips exactly.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import torch

from graphdiff.errors import DataError

__all__ = ["encode_tensors", "decode_tensors", "encode_values", "decode_values", "tag_value", "untag_value",
           "DatabaseError"]


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


# ---------------------------------------------------------------------------- plain values
#: Blob entry (a ``uint8`` tensor) that holds a graph's non-tensor attributes as JSON.
VALUES_KEY = "__values__"


def tag_value(value: Any, where: str) -> Any:
    """``value`` as JSON that :func:`untag_value` turns back into an equal value of the same types."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, list):
        return [tag_value(v, where) for v in value]
    if isinstance(value, tuple):
        return {"tuple": [tag_value(v, where) for v in value]}
    raise DatabaseError(f"{where} holds a {type(value).__name__}; a graph database stores tensors and "
                        "plain values (str, int, float, bool, None, and lists and tuples of them)")


def untag_value(value: Any) -> Any:
    """Inverse of :func:`tag_value`."""
    if isinstance(value, list):
        return [untag_value(v) for v in value]
    if isinstance(value, dict):
        if "tuple" in value:
            return tuple(untag_value(v) for v in value["tuple"])
        return float(value["float"])
    return value


def encode_values(values: dict[str, Any], where: str = "graph") -> torch.Tensor:
    """A graph's plain (non-tensor) attributes as one ``uint8`` tensor of JSON text.

    Strings, ints, floats (NaN and infinities included), booleans, ``None`` and lists and
    tuples of them round-trip exactly, types included (a tuple stays a tuple, so networkx node
    labels such as ``(0, 1)`` come back as they were). Anything else raises
    :class:`DatabaseError` naming ``where`` and the attribute.
    """
    tagged = {name: tag_value(value, f"{where}: attribute {name!r}") for name, value in values.items()}
    raw = json.dumps(tagged, ensure_ascii=False, separators=(",", ":")).encode()
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)


def decode_values(blob: torch.Tensor) -> dict[str, Any]:
    """Inverse of :func:`encode_values`."""
    try:
        return {name: untag_value(v) for name, v in json.loads(blob.numpy().tobytes().decode()).items()}
    except (ValueError, AttributeError, KeyError) as exc:
        raise DatabaseError(f"damaged graph values: {exc}") from None
