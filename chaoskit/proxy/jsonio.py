"""JSON in and out the way Toxiproxy's Go ``encoding/json`` does it.

Decoding reads only the first JSON value, matches struct keys case-insensitively (the last match wins), and
type-checks each field as Go would: integers refuse ``100.0`` and ``"100"``, float32 refuses out-of-range numbers.
Encoding is compact, escapes ``<``, ``>`` and ``&`` as Go does, and writes a toxicity as a float32.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from typing import Any

from chaoskit.proxy.proxy import ApiError, Float32, bad_request, format_float32
from chaoskit.proxy.toxics import INT64_MAX, INT64_MIN

_WS = " \t\r\n"
_SURROGATE = re.compile("[\ud800-\udfff]")
_FLOAT32_MAX = struct.unpack("f", struct.pack("I", 0x7F7FFFFF))[0]


class FloatLiteral(str):
    """A JSON number written with a fraction or an exponent, kept as its text (Go refuses it for ints)."""


class JsonObject(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in document order, duplicates kept."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def _object(pairs: list[tuple[str, Any]]) -> JsonObject:
    return JsonObject((_SURROGATE.sub("\ufffd", k), v) for k, v in pairs)


_DECODER = json.JSONDecoder(
    parse_float=FloatLiteral, parse_constant=_no_constant, object_pairs_hook=_object, strict=True
)


def decode(body: bytes) -> Any:
    """The first JSON value of ``body`` (raises ApiError 400 ``bad request body: ...``)."""
    text = body.decode("utf-8", "replace")
    start = len(text) - len(text.lstrip(_WS))
    if start == len(text):
        raise bad_request("EOF")
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text) or "Unterminated" in exc.msg:
            raise bad_request("unexpected EOF") from None
        raise bad_request(f"invalid character {text[exc.pos]!r} looking for beginning of value") from None
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    except RecursionError:
        raise bad_request("exceeded max depth") from None
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, FloatLiteral):
        return f"number {value}"
    if isinstance(value, int):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, JsonObject):
        return "object"
    return "array"


def type_error(value: Any, where: str, go_type: str) -> ApiError:
    kind = _kind(value)
    if go_type not in ("int64", "int") and kind.startswith("number"):
        kind = "number"
    return bad_request(f"json: cannot unmarshal {kind} into Go {where} of type {go_type}")


def pairs(value: Any, names: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """(field name, value) for each key of a JSON object matching one of ``names`` (case-insensitively)."""
    folded = {name.casefold(): name for name in names}
    for key, item in value:
        name = folded.get(key.casefold())
        if name is not None:
            yield name, item


def read_struct(value: Any, struct_name: str, schema: dict[str, str]) -> dict[str, Any]:
    """Decode a JSON value into a Go struct with fields ``schema`` (name -> Go type); absent/null fields omitted.

    ``value`` of null gives ``{}``; anything but an object is a type error, as in Go.
    """
    if value is None:
        return {}
    if not isinstance(value, JsonObject):
        raise type_error(value, f"value of type {struct_name}", struct_name)
    out: dict[str, Any] = {}
    for name, item in pairs(value, tuple(schema)):
        if item is None:
            continue
        out[name] = convert(item, schema[name], f"struct field {struct_name}.{name}")
    return out


def convert(item: Any, go_type: str, where: str) -> Any:
    if go_type == "string":
        if not isinstance(item, str) or isinstance(item, FloatLiteral):
            raise type_error(item, where, go_type)
        return _SURROGATE.sub("\ufffd", item)  # as Go decodes a lone surrogate escape
    if go_type == "bool":
        if not isinstance(item, bool):
            raise type_error(item, where, go_type)
        return item
    if go_type in ("int64", "int"):
        if isinstance(item, bool) or not isinstance(item, int) or not INT64_MIN <= item <= INT64_MAX:
            raise type_error(item, where, go_type)
        return item
    if go_type == "float32":
        if isinstance(item, bool) or not isinstance(item, int | FloatLiteral):
            raise type_error(item, where, go_type)
        number = float(item)
        if abs(number) > _FLOAT32_MAX:
            raise type_error(item, where, go_type)
        return number
    if go_type == "object":
        if not isinstance(item, JsonObject):
            raise type_error(item, where, "struct")
        return item
    raise AssertionError(go_type)


# ------------------------------------------------------------------------------------------------- encoding

_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False).translate(_GO_ESCAPES)


def encode(value: Any) -> str:
    """Compact JSON as Go's ``json.Marshal`` writes it."""
    if isinstance(value, Float32):
        return format_float32(value.value)
    if isinstance(value, str):
        return _string(value)
    if value is None or isinstance(value, bool | int):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(k)}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")
