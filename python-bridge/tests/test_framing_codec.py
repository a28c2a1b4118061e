"""The frame codec's pydantic-core fast path (``_framing``): it must accept, reject and produce
exactly what the stdlib reference codec does — byte for byte on JSON-native frames — including
the inputs where pydantic-core on its own differs (lone surrogates, deep nesting, NaN)."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from synapse_bridge import ProtocolError, decode_line, encode_frame
from synapse_bridge import _framing
from synapse_bridge._framing import decode_json

VECTORS = json.loads((Path(__file__).parent / 'vectors' / 'frames.json').read_text(encoding='utf-8'))


def _reference_encode(frame: Any) -> bytes:
    return json.dumps(frame, ensure_ascii=False, allow_nan=False, separators=(',', ':')).encode('utf-8') + b'\n'


def _reference_decode(line: bytes) -> Any:
    return json.loads(line.decode('utf-8'), parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))


def _every_vector_frame() -> list[Any]:
    frames: list[Any] = []
    for spec in VECTORS['frames'].values():
        frames += spec['valid'] + spec['invalid']
    return frames + VECTORS['notFrames']


@pytest.mark.parametrize('frame', [f for f in _every_vector_frame() if isinstance(f, dict)])
def test_every_vector_frame_encodes_to_the_reference_bytes_and_back(frame: dict[str, Any]) -> None:
    line = encode_frame(frame)
    assert line == _reference_encode(frame)
    assert decode_line(line[:-1]) == frame


def test_the_fast_path_is_the_one_used(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    to_json, from_json = _framing._pc_to_json, _framing._pc_from_json
    monkeypatch.setattr(_framing, '_pc_to_json', lambda v: calls.append('to') or to_json(v))
    monkeypatch.setattr(_framing, '_pc_from_json', lambda b, **kw: calls.append('from') or from_json(b, **kw))
    decode_line(encode_frame({'t': 'ping', 'seq': 1})[:-1])
    decode_json(b'[1]')
    assert calls == ['to', 'from', 'from']


def test_lone_surrogate_escape_from_node_decodes_like_the_reference() -> None:
    # Node's JSON.stringify writes a lone surrogate as an escape; pydantic-core alone refuses it.
    line = b'{"t":"run","id":"r1","prompt":"half \\ud83d emoji"}'
    assert decode_line(line) == _reference_decode(line)
    assert decode_line(line)['prompt'] == 'half \ud83d emoji'
    assert decode_json(b'["\\udc00"]') == ['\udc00']


def test_nesting_deeper_than_pydantic_core_allows_round_trips() -> None:
    deep: Any = 'leaf'
    for _ in range(600):
        deep = [deep]
    frame = {'t': 'result', 'id': 'r1', 'output': deep}
    line = encode_frame(frame)
    assert line == _reference_encode(frame)
    assert decode_line(line[:-1]) == frame
    assert decode_json(line[:-1]) == frame


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf'), [1.0, {'x': float('nan')}]])
def test_non_finite_floats_are_refused_like_the_reference(value: Any) -> None:
    with pytest.raises(ValueError):
        encode_frame({'t': 'result', 'id': 'r1', 'output': value})


def test_nan_and_infinity_inside_strings_encode_as_the_reference() -> None:
    frame = {'t': 'result', 'id': 'NaN', 'output': 'Infinity and NaN are words here', 'messages': [{'NaN': '-Infinity'}]}
    assert encode_frame(frame) == _reference_encode(frame)


@pytest.mark.parametrize('line', [b'{"seq":NaN}', b'{"seq":Infinity}', b'{"seq":-Infinity}', b'{"a":"\xff"}', b'\xef\xbb\xbf{}', b'{"a":1,}', b'{"a":1} x'])
def test_invalid_lines_are_protocol_errors(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_line(line)
    with pytest.raises(ValueError):  # UnicodeDecodeError is a ValueError
        decode_json(line)


def test_unknown_types_still_raise_type_error() -> None:
    with pytest.raises(TypeError):
        encode_frame({'t': 'result', 'id': 'r1', 'output': object()})


def test_random_json_native_frames_match_the_reference_byte_for_byte() -> None:
    rnd = random.Random(15)
    alphabet = 'aé☃𝄞"\\/\n\t\x00\x1f ~' + ''.join(chr(c) for c in range(0x20, 0x7F))

    def value(depth: int) -> Any:
        kind = rnd.randrange(9 if depth < 4 else 6)
        if kind == 0:
            return None
        if kind == 1:
            return rnd.random() < 0.5
        if kind == 2:
            return rnd.randrange(-(2**70), 2**70)
        if kind == 3:  # finite floats in a plain range (see the exponent test for the rest)
            return round(rnd.uniform(-1e6, 1e6), rnd.randrange(0, 8))
        if kind in (4, 5):
            return ''.join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 30)))
        if kind == 6:
            return [value(depth + 1) for _ in range(rnd.randrange(0, 5))]
        return {''.join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 8))): value(depth + 1) for _ in range(rnd.randrange(0, 5))}

    for i in range(2000):
        frame = {'t': 'result', 'id': f'r{i}', 'output': value(0)}
        line = encode_frame(frame)
        assert line == _reference_encode(frame), frame
        assert decode_line(line[:-1]) == _reference_decode(line[:-1])


def test_every_finite_float_round_trips_to_the_same_number() -> None:
    # pydantic-core may spell a float differently from the stdlib (1e-7 vs 1e-07): same value.
    rnd = random.Random(7)
    for _ in range(20_000):
        x = struct.unpack('<d', rnd.randbytes(8))[0]
        if x != x or x in (float('inf'), -float('inf')):
            continue
        line = encode_frame({'t': 'x', 'v': x})
        assert _reference_decode(line[:-1])['v'] == x
        assert decode_line(line[:-1])['v'] == x
