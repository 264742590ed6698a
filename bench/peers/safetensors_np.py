"""A minimal safetensors reader/writer on numpy (no `safetensors` package: Debian 12 has none).

Format: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape,
data_offsets: [begin, end]}, "__metadata__": {...}}, then the data (offsets relative to it).
"""
import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
    "BOOL": np.bool_,
}


def load(path):
    """{name: numpy array} (copies, writable) and the __metadata__ dict."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, t in header.items():
        if t["dtype"] == "BF16":
            begin, end = t["data_offsets"]
            raw = np.frombuffer(data[begin:end], dtype=np.uint16).astype(np.uint32) << 16
            out[name] = raw.view(np.float32).reshape(t["shape"]).copy()
            continue
        dt = _DTYPES[t["dtype"]]
        begin, end = t["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(t["shape"]).copy()
    return out, meta


def save(path, tensors, metadata=None):
    """Writes {name: numpy array} (float32/float64/int arrays) as safetensors."""
    rev = {v: k for k, v in _DTYPES.items()}
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.tobytes()
        header[name] = {"dtype": rev[a.dtype.type], "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
