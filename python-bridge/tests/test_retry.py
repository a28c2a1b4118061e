"""The retry policy (``_retry``): the pure backoff step, and :class:`RetryingModel` retrying a
failed model request — not the turn — inside a real pydantic-ai agent run (a ``FunctionModel``
that fails on cue). Over real HTTP it is tested from Node (test/integration/agents/providers.test.ts)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai import exceptions as pai
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from synapse_bridge._retry import RUN_DEADLINE, RetryPolicy, backoff_ms, retry_policy
from synapse_bridge.exceptions import InvalidOptionError

from conftest import REPO


def _policy(attempts: int = 3, lo: float = 100, hi: float = 1000, r: float = 1.0) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, min_delay_ms=lo, max_delay_ms=hi, rand=lambda: r)


def test_backoff_is_full_jitter_over_an_exponential_ceiling_capped_at_max() -> None:
    assert [backoff_ms(_policy(), n, None) for n in (1, 2, 3, 4, 5)] == [100, 200, 400, 800, 1000]
    assert [backoff_ms(_policy(r=0.5), n, None) for n in (1, 2, 3)] == [50, 100, 200]
    assert backoff_ms(_policy(r=0.0), 1, None) == 0


def test_backoff_honours_retry_after_capped_at_max() -> None:
    assert backoff_ms(_policy(r=0.1), 1, 600) == 600  # the provider asked for more than the jitter
    assert backoff_ms(_policy(r=1.0), 4, 50) == 800  # the jitter is longer: it wins
    assert backoff_ms(_policy(), 1, 5000) == 1000  # capped at max_delay_ms


def test_retry_policy_from_the_init_entry() -> None:
    assert retry_policy({'attempts': 2}) == RetryPolicy(attempts=2)
    assert retry_policy({'attempts': 4, 'minDelayMs': 1, 'maxDelayMs': 9}) == RetryPolicy(attempts=4, min_delay_ms=1, max_delay_ms=9)
    for bad, option in (({'attempts': 0}, 'retry.attempts'), ({'attempts': True}, 'retry.attempts'), ({'attempts': 2, 'minDelayMs': -1}, 'retry.minDelayMs'), ({'attempts': 2, 'minDelayMs': 5, 'maxDelayMs': 1}, 'retry.minDelayMs'), ([], 'retry')):
        with pytest.raises(InvalidOptionError) as info:
            retry_policy(bad)
        assert info.value.option == option


class _Script:
    """A model that calls ``lookup`` once, then fails ``failures`` times, then answers."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0
        self.settings: list[Any] = []

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.calls += 1
        self.settings.append(info.model_settings)
        if not any(isinstance(p, ToolReturnPart) for m in messages for p in m.parts):
            return ModelResponse(parts=[ToolCallPart('lookup', {'q': 'x'})])
        if self.failures:
            raise self.failures.pop(0)
        return ModelResponse(parts=[TextPart('done')])


def _agent(script: _Script) -> tuple[Agent[None, str], list[str]]:
    ran: list[str] = []
    agent = Agent(FunctionModel(script))

    @agent.tool_plain
    def lookup(q: str) -> str:
        ran.append(q)
        return 'found'

    return agent, ran


def _429(retry_after: float | None = None) -> Exception:
    exc = pai.ModelHTTPError.for_category(pai.ModelRateLimitError, status_code=429, model_name='m')
    exc.retry_after = retry_after
    return exc


async def test_a_retryable_failure_is_retried_without_rerunning_the_tool() -> None:
    script = _Script([_429(), pai.ModelHTTPError(503, 'm')])
    agent, ran = _agent(script)
    result = await agent.run('go', model=_policy(attempts=3, lo=1, hi=2).wrap(agent.model))  # type: ignore[arg-type]
    assert result.output == 'done'
    assert ran == ['x']  # the tool ran once: the request was retried, not the turn
    assert script.calls == 4  # tool call, 429, 503, answer
    assert all(s is not None and s.get('max_retries') == 0 for s in script.settings)  # the SDK's own retries are off


async def test_attempts_are_bounded_and_the_last_failure_is_raised() -> None:
    script = _Script([_429(), _429(), _429()])
    agent, _ = _agent(script)
    with pytest.raises(pai.ModelRateLimitError):
        await agent.run('go', model=_policy(attempts=2, lo=1, hi=1).wrap(agent.model))  # type: ignore[arg-type]
    assert script.calls == 3 and len(script.failures) == 1  # tool call + 2 attempts


async def test_not_retryable_failures_are_not_retried() -> None:
    quota = pai.ModelHTTPError.for_category(pai.ModelQuotaExceededError, status_code=429, model_name='m')
    script = _Script([quota])
    agent, _ = _agent(script)
    with pytest.raises(pai.ModelQuotaExceededError):
        await agent.run('go', model=_policy(attempts=5, lo=1, hi=1).wrap(agent.model))  # type: ignore[arg-type]
    assert script.calls == 2


async def test_a_wait_past_the_deadline_fails_at_once_with_the_providers_retry_after() -> None:
    script = _Script([_429(retry_after=30.0)])
    agent, _ = _agent(script)
    loop = asyncio.get_running_loop()
    token = RUN_DEADLINE.set(loop.time() + 5.0)
    started = loop.time()
    try:
        with pytest.raises(pai.ModelRateLimitError) as info:
            await agent.run('go', model=_policy(attempts=5, lo=1, hi=60_000).wrap(agent.model))  # type: ignore[arg-type]
    finally:
        RUN_DEADLINE.reset(token)
    assert info.value.retry_after == 30.0
    assert loop.time() - started < 5.0  # did not sleep out the deadline
    assert script.calls == 2


def test_wrap_reuses_one_wrapper_per_model() -> None:
    policy = _policy()
    model = FunctionModel(lambda m, i: ModelResponse(parts=[TextPart('x')]))
    assert policy.wrap(model) is policy.wrap(model)
    assert policy.wrap(policy.wrap(model)) is policy.wrap(model)


@pytest.mark.parametrize(
    ('options', 'option'),
    [({'retry': {'attempts': 3}}, 'retry'), ({'model': 'test'}, 'model'), ({'usageLimits': {'request_limit': 2}, 'retry': {'attempts': 2}}, 'usageLimits')],
)
def test_retry_on_a_plain_handler_fails_init_as_an_invalid_option_naming_it(spawn: Any, options: dict[str, Any], option: str) -> None:
    # A plain handler makes no model requests, so `retry` has nothing to act on: like `model`, the
    # start-up fails with `invalid_option` naming the field (it once raised IndexError: only
    # model/modelSettings/usageLimits were looked for).
    bridge = spawn()
    assert bridge.recv()['t'] == 'hello'
    agents = [{'name': 'chat', 'ref': 'examples/agents/chat_handler.py:handler', **options}]
    bridge.send({'t': 'init', 'agents': agents, 'tools': [], 'concurrency': 4, 'maxFrameBytes': 1 << 20, 'cwd': str(REPO)})
    error = bridge.recv_until(lambda f: f['t'] in ('ready', 'error'))[0]
    assert (error['t'], error['kind'], error['option']) == ('error', 'invalid_option', option), error
    assert 'plain handler' in error['message']
    assert bridge.wait() == 2
