"""Plain-data encoding of test inputs and results, shared by the grader and the student's kernel.

This module needs only the standard library and NumPy, and its whole source is sent into the
student's kernel by the hidden-test probe (:mod:`autograder.hidden`), so that both sides encode
and decode with the very same code. Nothing here can run code on decoding: no pickle, only
JSON and raw array bytes of a few numeric dtypes.

Encoding of a value ``v``:

* ``None``, ``bool``, ``int``, ``float`` (NaN and inf included), ``str``: themselves (JSON);
* NumPy scalars: their Python value;
* ``ndarray`` of a bool, integer or float dtype: ``{"nd": [dtype, shape, base64 bytes]}``;
* ``list`` / ``tuple``: ``{"seq": [...], "tuple": bool}``;
* ``dict`` with string keys: ``{"map": {...}}``;
* anything else: ``{"opaque": type name, "repr": first 200 characters of repr}``, which
  decodes to an :class:`Opaque` (a check then says what the student returned).

Limits (:data:`MAX_DEPTH`, :data:`MAX_ITEMS`, :data:`MAX_BYTES`) keep a hostile result from
exhausting the grader's memory: past them the value encodes as opaque.
"""

import base64
import json

import numpy as np

MAX_DEPTH = 8
MAX_ITEMS = 10_000
MAX_BYTES = 32 * 2**20
_KINDS = "biuf"


class Opaque:
    """A value that was not plain data (a student's object, a too large array, ...)."""

    def __init__(self, type_name, text):
        self.type_name = str(type_name)
        self.text = str(text)

    def __repr__(self):
        return f"<{self.type_name}: {self.text}>"


def encode(value, _depth=0, _budget=None):
    """Turn ``value`` into JSON-ready plain data (see the module docstring)."""
    budget = _budget if _budget is not None else [MAX_BYTES]
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, str):
            value = value[:MAX_ITEMS]
        return value
    if isinstance(value, np.generic) and value.dtype.kind in _KINDS:
        return value.item()
    if _depth >= MAX_DEPTH:
        return _opaque(value, "nested too deeply")
    if isinstance(value, np.ndarray) and value.dtype.kind in _KINDS:
        if value.nbytes > budget[0]:
            return _opaque(value, f"array of shape {value.shape}, too large to grade")
        budget[0] -= value.nbytes
        # (not np.ascontiguousarray: it turns a 0-d array into shape (1,))
        arr = value if value.flags.c_contiguous else value.copy(order="C")
        return {
            "nd": [arr.dtype.str, list(arr.shape), base64.b64encode(arr.tobytes()).decode("ascii")]
        }
    if isinstance(value, (list, tuple)) and len(value) <= MAX_ITEMS:
        return {
            "seq": [encode(v, _depth + 1, budget) for v in value],
            "tuple": isinstance(value, tuple),
        }
    if (
        isinstance(value, dict)
        and len(value) <= MAX_ITEMS
        and all(isinstance(k, str) for k in value)
    ):
        return {"map": {k: encode(v, _depth + 1, budget) for k, v in value.items()}}
    return _opaque(value)


def _opaque(value, why=""):
    try:
        text = repr(value)[:200]
    except Exception:  # a hostile __repr__
        text = "?"
    return {"opaque": type(value).__name__, "repr": f"{why}: {text}" if why else text}


def decode(data, _depth=0):
    """Inverse of :func:`encode`; raises ``ValueError`` on anything malformed."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if _depth >= MAX_DEPTH + 1:
        raise ValueError("encoded value nested too deeply")
    if isinstance(data, dict) and len(data) in (1, 2):
        if "nd" in data:
            dtype, shape, raw = data["nd"]
            dtype = np.dtype(str(dtype))
            if dtype.kind not in _KINDS:
                raise ValueError(f"dtype {dtype} is not allowed")
            shape = tuple(int(n) for n in shape)
            if any(n < 0 for n in shape):
                raise ValueError("negative dimension")
            buf = base64.b64decode(str(raw), validate=True)
            if len(buf) > MAX_BYTES or len(buf) != int(np.prod(shape)) * dtype.itemsize:
                raise ValueError("array bytes do not match the shape")
            return np.frombuffer(buf, dtype=dtype).reshape(shape).copy()
        if "seq" in data:
            items = [decode(v, _depth + 1) for v in list(data["seq"])[:MAX_ITEMS]]
            return tuple(items) if data.get("tuple") else items
        if "map" in data:
            return {str(k): decode(v, _depth + 1) for k, v in dict(data["map"]).items()}
        if "opaque" in data:
            return Opaque(data["opaque"], data.get("repr", ""))
    raise ValueError(f"not an encoded value: {str(data)[:80]}")


def dumps(value):
    """``encode`` then JSON text."""
    return json.dumps(encode(value))


def loads(text):
    """JSON text then ``decode``."""
    return decode(json.loads(text))
