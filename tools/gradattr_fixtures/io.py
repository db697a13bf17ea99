"""Writers for the fixture formats the C++ side reads.

safetensors layout (https://github.com/huggingface/safetensors, written by hand):
  8 bytes   little-endian u64 N = length of the JSON header in bytes
  N bytes   UTF-8 JSON: {"name": {"dtype": "F32", "shape": [...],
                                  "data_offsets": [begin, end]}, ...,
                         "__metadata__": {"k": "v", ...}}
            padded with spaces so that 8 + N is a multiple of 8
  rest      raw little-endian tensor bytes, in header order, offsets relative
            to the start of this data section, no gaps.
"""
import json
import os
import struct
import tempfile

import numpy as np

_DTYPES = {
    np.dtype("float32"): "F32",
    np.dtype("float64"): "F64",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("uint8"): "U8",
}


def _atomic_write_bytes(path, chunks):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            for c in chunks:
                f.write(c)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, np.ndarray) pairs, written in this order."""
    header = {}
    blobs = []
    offset = 0
    for name, arr in tensors:
        a = np.asarray(arr)
        if a.dtype not in _DTYPES:
            raise ValueError(f"{name}: unsupported dtype {a.dtype}")
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        b = a.tobytes(order="C")
        header[name] = {
            "dtype": _DTYPES[a.dtype],
            "shape": [int(s) for s in a.shape],
            "data_offsets": [offset, offset + len(b)],
        }
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    pad = (-(8 + len(js))) % 8
    js += b" " * pad
    _atomic_write_bytes(path, [struct.pack("<Q", len(js)), js] + blobs)


def load_safetensors(path):
    """Minimal reader, used only to self-check the writer."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    inv = {v: k for k, v in _DTYPES.items()}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = inv[info["dtype"]].newbyteorder("<")
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(info["shape"])
    return out, header.get("__metadata__", {})


def save_npy(path, arr, dtype=np.float64):
    """np.save in C order with an explicit dtype (float32, float64 or int64)."""
    a = np.ascontiguousarray(np.asarray(arr), dtype=np.dtype(dtype))
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".npy")
    os.close(fd)
    try:
        np.save(tmp, a, allow_pickle=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return a
