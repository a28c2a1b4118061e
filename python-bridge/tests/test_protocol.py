"""Schema tests of every frame type against the shared vectors (``vectors/frames.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from synapse_bridge import ProtocolError, decode_line, validate_from_node, validate_from_python

VECTORS = json.loads((Path(__file__).parent / 'vectors' / 'frames.json').read_text(encoding='utf-8'))
VALIDATORS = {'node_to_python': validate_from_node, 'python_to_node': validate_from_python}
OTHER = {'node_to_python': validate_from_python, 'python_to_node': validate_from_node}


def _cases(kind: str) -> list[Any]:
    out = []
    for t, spec in VECTORS['frames'].items():
        for i, case in enumerate(spec[kind]):
            frame = case if kind == 'valid' else case['frame']
            label = f'{t}[{i}]' if kind == 'valid' else f'{t}: {case["why"]}'
            out.append(pytest.param(spec['direction'], frame, id=label))
    return out


def test_vectors_cover_every_frame_type_of_protocol_v1() -> None:
    node = {'init', 'run', 'history_chunk', 'cancel', 'tool_result', 'model_slot_grant', 'ping', 'shutdown'}
    python = {'hello', 'ready', 'event', 'result', 'error', 'tool_call', 'model_slot', 'model_slot_release', 'pong', 'gc', 'log', 'bye'}
    frames = VECTORS['frames']
    assert set(frames) == node | python
    assert {t for t, s in frames.items() if s['direction'] == 'node_to_python'} == node
    for t, spec in frames.items():
        assert spec['valid'], t
        assert all(f['t'] == t for f in spec['valid'])
        assert all(c['frame']['t'] == t for c in spec['invalid'])
        if t not in ('shutdown', 'bye'):  # frames with no fields have nothing to get wrong
            assert spec['invalid'], t


@pytest.mark.parametrize(('direction', 'frame'), _cases('valid'))
def test_valid_frame_passes_its_direction_and_fails_the_other(direction: str, frame: dict[str, Any]) -> None:
    assert VALIDATORS[direction](frame) is frame
    with pytest.raises(ProtocolError, match='unknown frame type'):
        OTHER[direction](frame)


@pytest.mark.parametrize(('direction', 'frame'), _cases('invalid'))
def test_invalid_frame_is_rejected_naming_the_field(direction: str, frame: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError, match=f"invalid '{frame['t']}' frame: field"):
        VALIDATORS[direction](frame)


@pytest.mark.parametrize('case', VECTORS['notFrames'], ids=lambda c: c['why'])
def test_not_frames_fail_in_both_directions(case: dict[str, Any]) -> None:
    for validate in VALIDATORS.values():
        with pytest.raises(ProtocolError):
            validate(case['frame'])


@pytest.mark.parametrize('line', VECTORS['lines']['valid'])
def test_valid_lines_decode_to_objects(line: str) -> None:
    assert isinstance(decode_line(line.encode('utf-8')), dict)


@pytest.mark.parametrize('line', VECTORS['lines']['invalid'])
def test_invalid_lines_are_protocol_violations(line: str) -> None:
    with pytest.raises(ProtocolError):
        decode_line(line.encode('utf-8'))


def test_unknown_fields_are_ignored() -> None:
    frame = {'t': 'cancel', 'id': 'r1', 'future': {'nested': [1, 2]}}
    assert validate_from_node(frame) == frame
