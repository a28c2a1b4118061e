"""``outputType`` of the result frame: the type name of what pydantic-ai (or a handler) produced."""

from __future__ import annotations

from typing import Any

import pytest

from synapse_bridge._agents import load_agents
from synapse_bridge._runner import execute_run, output_type_name
from synapse_bridge._schema import validate_from_python

from conftest import REPO, run_frame


async def _result(ref: str, prompt: str, stream: bool = False) -> dict[str, Any]:
    loaded = load_agents([{'name': 'a', 'ref': ref}], str(REPO))['a']
    return await execute_run(loaded, run_frame('r', 'a', prompt, stream=stream), lambda _e: None, [])


@pytest.mark.parametrize('stream', [False, True])
@pytest.mark.parametrize(('prompt', 'type_name'), [('SFO to ANC', 'FlightDetails'), ('X to Y', 'NoFlightFound')])
async def test_union_output_names_the_member_produced(prompt: str, type_name: str, stream: bool) -> None:
    result = await _result('examples/agents/flights.py:agent', prompt, stream)
    assert result['outputType'] == type_name
    validate_from_python(result)  # the frame Node receives is valid


async def test_text_agent_and_plain_handler_are_str() -> None:
    assert (await _result('examples/agents/support.py:agent', 'where is order 42?'))['outputType'] == 'str'
    assert (await _result('examples/agents/chat_handler.py:handler', 'hi'))['outputType'] == 'str'


def test_output_type_name() -> None:
    assert [output_type_name(x) for x in ('a', [1], {'a': 1}, None, 3)] == ['str', 'list', 'dict', 'NoneType', 'int']
