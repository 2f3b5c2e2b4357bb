"""The decoder's fast JSON writers give exactly the text of the plain dict-and-encoder path."""

from __future__ import annotations

import json
import random

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from spyglass.collector import _decode
from spyglass.storage import decode_attributes


def _random_value(rng: random.Random, value: AnyValue, depth: int = 0) -> None:
    kind = rng.choice(["s", "i", "b", "d", "bytes", "arr", "kv", "empty"] if depth < 2 else ["s", "i", "d"])
    if kind == "s":
        value.string_value = rng.choice(["", "plain", 'quote " and \\ backslash', "ünïcode ✓", "line\nbreak\t\x01"])
    elif kind == "i":
        value.int_value = rng.choice([0, -1, 2**63 - 1, -(2**63), rng.randint(-1000, 1000)])
    elif kind == "b":
        value.bool_value = rng.random() < 0.5
    elif kind == "d":
        value.double_value = rng.choice([0.0, 1.0, -2.5, 1e300, 5e-324, float("nan"), float("inf"), -float("inf")])
    elif kind == "bytes":
        value.bytes_value = bytes(rng.randrange(256) for _ in range(rng.randrange(5)))
    elif kind == "arr":
        for _ in range(rng.randrange(3)):
            _random_value(rng, value.array_value.values.add(), depth + 1)
    elif kind == "kv":
        for i in range(rng.randrange(3)):
            kv = value.kvlist_value.values.add()
            kv.key = f"k{i}"
            _random_value(rng, kv.value, depth + 1)


def _random_attributes(rng: random.Random, target: list[KeyValue] | object) -> None:
    for i in range(rng.randrange(8)):
        kv = target.add()  # type: ignore[attr-defined]
        kv.key = rng.choice([f"key.{i}", 'we"ird\\key', "ключ", ""]) + str(i)
        _random_value(rng, kv.value)


def test_fast_attribute_and_event_json_match_the_encoder() -> None:
    rng = random.Random(7)
    for _ in range(500):
        span = Span()
        _random_attributes(rng, span.attributes)
        expected = _decode._encode_json(_decode._attrs(span.attributes)) if span.attributes else "{}"
        text = _decode._attrs_json(span.attributes)
        assert text == expected
        json.loads(text)  # valid JSON (no bare NaN/Infinity)
        for _ in range(rng.randrange(3)):
            ev = span.events.add()
            ev.name = rng.choice(["exception", 'odd "name"'])
            ev.time_unix_nano = rng.randrange(2**63)
            ev.dropped_attributes_count = rng.randrange(3)
            _random_attributes(rng, ev.attributes)
        if span.events:
            plain = [
                {
                    "time_unix_nano": ev.time_unix_nano,
                    "name": ev.name,
                    "attributes": _decode._attrs(ev.attributes),
                    "dropped_attributes_count": ev.dropped_attributes_count,
                }
                for ev in span.events
            ]
            assert _decode._events_json(span.events) == _decode._encode_json(plain)


def test_stored_values_decode_to_their_types() -> None:
    span = Span()
    for key, setter in [
        ("s", lambda v: setattr(v, "string_value", "x")),
        ("i", lambda v: setattr(v, "int_value", 3)),
        ("d", lambda v: setattr(v, "double_value", 3.0)),
        ("nan", lambda v: setattr(v, "double_value", float("inf"))),
        ("b", lambda v: setattr(v, "bool_value", False)),
        ("by", lambda v: setattr(v, "bytes_value", b"\x00\xff")),
    ]:
        kv = span.attributes.add()
        kv.key = key
        setter(kv.value)
    decoded = decode_attributes(_decode._attrs_json(span.attributes))
    assert decoded == {"s": "x", "i": 3, "d": 3.0, "nan": float("inf"), "b": False, "by": b"\x00\xff"}
    assert [type(v) for v in decoded.values()] == [str, int, float, float, bool, bytes]
