"""Multimodal prompts and ``handler(input: RunInput)`` (issue #12): the prompt parts become
pydantic-ai's own content classes (the model sees an ``ImageUrl`` / ``BinaryContent``, not text), the
committed history stores them as pydantic-ai does and round-trips the next turn, bad parts are
``InvalidArgumentError`` without input values, the ``run.prompt`` schema, and the same over a real
runtime (the worker goes on after a bad prompt)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from pydantic_ai import ModelMessagesTypeAdapter
from pydantic_ai.messages import BinaryContent, ImageUrl

from synapse_bridge import RunInput
from synapse_bridge._agents import LoadedAgent, load_agents
from synapse_bridge._prompt import PART_KINDS, dump_user_prompt, user_prompt
from synapse_bridge._run_input import takes_run_input
from synapse_bridge._runner import execute_run
from synapse_bridge._schema import FEATURES, validate_from_node
from synapse_bridge.exceptions import AgentLoadError, InvalidArgumentError, ProtocolError

from conftest import REPO, Bridge, run_frame

VISION = 'examples/agents/vision.py:agent'
DESCRIBE = 'examples/agents/vision.py:describe'
PLAIN = 'examples/agents/vision.py:plain'
PNG = b'\x89PNG\r\n\x1a\n-secret-pixels'
PNG_B64 = base64.b64encode(PNG).decode()
IMAGE_URL = 'https://example.com/cat.png'
PROMPT: list[Any] = ['What is this?', {'kind': 'image-url', 'url': IMAGE_URL}, {'kind': 'binary', 'data': PNG_B64, 'media_type': 'image/png'}]


def _load(ref: str) -> LoadedAgent:
    return load_agents([{'name': 'a', 'ref': ref}], str(REPO))['a']


def _run(ref: str, prompt: Any, *, history: list[Any] | None = None, options: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    frame = {**run_frame('r', 'a', prompt, history=history), **extra}
    if options is not None:
        frame['options'] = options
    return asyncio.run(execute_run(_load(ref), frame, lambda _: None, []))


# ── conversion ───────────────────────────────────────────────────────────────


def test_parts_become_pydantic_ai_content_and_dump_as_its_history_json() -> None:
    content = user_prompt(PROMPT)
    assert content is not None and not isinstance(content, str)
    text, image, binary = content
    assert text == 'What is this?'
    assert isinstance(image, ImageUrl) and image.url == IMAGE_URL
    assert isinstance(binary, BinaryContent) and binary.data == PNG and binary.is_image  # BinaryImage, as pydantic-ai narrows it
    dumped = dump_user_prompt(content)
    assert dumped[2]['data'] == PNG_B64 and dumped[1]['media_type'] == 'image/png'  # pydantic-ai infers it from the URL
    assert ModelMessagesTypeAdapter.validate_python([{'kind': 'request', 'parts': [{'part_kind': 'user-prompt', 'content': dumped}]}])[0].parts[0].content == content  # type: ignore[union-attr]
    assert user_prompt('plain') == 'plain' and user_prompt(None) is None


def test_every_part_kind_of_the_pinned_pydantic_ai_is_known() -> None:
    from typing import get_args

    from pydantic_ai.messages import UserContent, _USER_CONTENT_TYPES  # noqa: PLC2701 - checked against the pinned version

    kinds = {getattr(cls, 'kind', None) for cls in _USER_CONTENT_TYPES if cls is not str}
    assert kinds == set(PART_KINDS)
    assert get_args(UserContent)  # still a union


@pytest.mark.parametrize(
    ('prompt', 'loc', 'error_type'),
    [
        ([{'kind': 'hologram', 'url': 'x'}], [0], 'unknown_part_kind'),
        (['ok', {'kind': 'binary', 'data': '!!not base64!!', 'media_type': 'image/png'}], [1, 'binary', 'data'], 'bytes_invalid_encoding'),
        ([{'kind': 'binary', 'data': PNG_B64}], [0, 'binary', 'media_type'], 'missing'),
        ([{'kind': 'image-url'}], [0, 'image-url', 'url'], 'missing'),
        ([7], [0], 'unknown_part_kind'),
    ],
)
def test_a_bad_part_is_an_invalid_argument_at_its_index_without_the_input(prompt: list[Any], loc: list[Any], error_type: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        user_prompt(prompt)
    first = info.value.errors[0]
    assert (first['loc'], first['type']) == (loc, error_type)
    assert f'prompt[{loc[0]}]' in str(info.value)
    assert all('input' not in e for e in info.value.errors)
    assert '!!not base64!!' not in str(info.value) + json.dumps(info.value.errors)


# ── agent turns ──────────────────────────────────────────────────────────────


def test_the_model_sees_an_image_url_and_binary_content_not_text() -> None:
    result = _run(VISION, PROMPT)
    assert result['output'] == f'str:What is this?, ImageUrl:{IMAGE_URL}, BinaryImage:image/png:{len(PNG)} bytes'
    request = result['messages'][0]
    assert request['parts'][0]['content'][2] == {**request['parts'][0]['content'][2], 'kind': 'binary', 'data': PNG_B64, 'media_type': 'image/png'}


def test_the_committed_turn_round_trips_the_next_turn_with_the_image_in_history() -> None:
    first = _run(VISION, PROMPT)
    history = json.loads(json.dumps(first['messages']))  # as stored: plain JSON
    second = _run(VISION, 'And now?', history=history)
    assert second['output'] == f'str:What is this?, ImageUrl:{IMAGE_URL}, BinaryImage:image/png:{len(PNG)} bytes | str:And now?'


def test_a_bad_part_fails_the_agent_turn_before_the_model_runs() -> None:
    with pytest.raises(InvalidArgumentError):
        _run(VISION, [{'kind': 'binary', 'data': 'x', 'media_type': 'image/png'}])


# ── plain handlers ───────────────────────────────────────────────────────────


def test_a_run_input_handler_gets_prompt_deps_metadata_history_and_conversation() -> None:
    loaded = _load(DESCRIBE)
    assert (loaded.handler_arity, loaded.handler_takes_input) == (1, True)
    history = _run(VISION, 'earlier')['messages']
    result = _run(DESCRIBE, PROMPT, history=history, options={'deps': {'customer_id': 7}, 'metadata': {'tenant': 't'}}, conversationId='c-1')
    assert result['output'] == {
        'prompt': ['str:What is this?', f'ImageUrl:{IMAGE_URL}', f'BinaryImage:image/png:{len(PNG)} bytes'],
        'deps': {'customer_id': 7},
        'metadata': {'tenant': 't'},
        'conversationId': 'c-1',
        'historyMessages': 2,
    }
    # Its committed turn carries the multimodal prompt as pydantic-ai stores it, and round-trips.
    request, response = result['messages']
    assert request['parts'][0]['content'] == dump_user_prompt(user_prompt(PROMPT))  # type: ignore[arg-type]
    messages = ModelMessagesTypeAdapter.validate_python(result['messages'])
    assert isinstance(messages[0].parts[0].content[1], ImageUrl)  # type: ignore[union-attr,index]
    assert json.loads(response['parts'][0]['content'])['deps'] == {'customer_id': 7}


def test_run_input_handler_without_options_and_the_prompt_form_with_parts() -> None:
    assert _run(DESCRIBE, 'hi')['output'] == {'prompt': ['str:hi'], 'deps': None, 'metadata': None, 'conversationId': None, 'historyMessages': 0}
    assert _run(PLAIN, PROMPT)['output'] == f'str:What is this?, ImageUrl:{IMAGE_URL}, BinaryImage:image/png:{len(PNG)} bytes'
    with pytest.raises(InvalidArgumentError):
        _run(DESCRIBE, [{'kind': 'nope'}])


def test_run_input_detection() -> None:
    async def annotated(input: RunInput) -> str:
        return ''

    def by_string(x: 'RunInput') -> str:  # noqa: UP037 - the string form of __future__ annotations
        return ''

    def other(prompt: str) -> str:
        return ''

    def two(input: RunInput, history: list[Any]) -> str:
        return ''

    assert takes_run_input(annotated) and takes_run_input(by_string)
    assert not takes_run_input(other) and not takes_run_input(two) and not takes_run_input(len)
    with pytest.raises(AgentLoadError, match='RunInput'):
        load_agents([{'name': 'a', 'ref': 're:sub'}], str(REPO))  # three required parameters


# ── schema ───────────────────────────────────────────────────────────────────


def test_run_prompt_schema_takes_a_non_empty_array_of_parts() -> None:
    assert 'multimodal_prompt' in FEATURES
    validate_from_node(run_frame('r', 'a', PROMPT))  # type: ignore[arg-type]
    for bad in ([], [3], [{'url': 'x'}], [{'kind': 5}], {'kind': 'image-url'}, 3):
        with pytest.raises(ProtocolError, match="'prompt'"):
            validate_from_node(run_frame('r', 'a', bad))  # type: ignore[arg-type]


# ── end to end ───────────────────────────────────────────────────────────────


def test_runtime_bad_prompt_answers_the_run_and_the_worker_goes_on(spawn: Any) -> None:
    b: Bridge = spawn()
    hello = b.recv()
    assert 'multimodal_prompt' in hello.get('features', [])
    b.send({'t': 'init', 'agents': [{'name': 'v', 'ref': VISION}, {'name': 'd', 'ref': DESCRIBE}], 'tools': [], 'concurrency': 4, 'maxFrameBytes': 8 * 1024 * 1024, 'cwd': str(REPO)})
    assert b.recv_until(lambda f: f['t'] in ('ready', 'error'))[0] == {'t': 'ready', 'agents': ['v', 'd']}
    b.send(run_frame('r1', 'v', [{'kind': 'binary', 'data': '%%%', 'media_type': 'image/png'}]))  # type: ignore[arg-type]
    err, _ = b.terminal('r1')
    assert (err['t'], err['kind'], err['type']) == ('error', 'invalid_argument', 'InvalidArgumentError')
    assert err['errors'][0]['loc'] == [0, 'binary', 'data']
    b.send(run_frame('r2', 'v', PROMPT, stream=True))  # type: ignore[arg-type]
    ok, before = b.terminal('r2')
    assert ok['output'].startswith('str:What is this?, ImageUrl:')
    assert any(f['t'] == 'event' and f['event']['kind'] == 'text_delta' for f in before)
    b.send(run_frame('r3', 'd', PROMPT))  # type: ignore[arg-type]
    ok, _ = b.terminal('r3')
    assert ok['output']['prompt'][1] == f'ImageUrl:{IMAGE_URL}'
