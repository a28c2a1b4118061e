"""The per-agent retry policy (``spawnAgent({ retry })``): retry a failed model request, not the turn.

A retryable provider failure (``_provider.provider_details``: rate limit, server error, connection,
timeout) of one model request is retried inside that request by :class:`RetryingModel`, a
pydantic-ai ``WrapperModel`` around the run's model, so the agent graph never sees the failed
attempts: a tool that already ran in the turn is never run again. A streamed request is retried
only while it opens (the HTTP error arrives before any event); once it has produced events (text
deltas already delivered to the caller) a failure ends the turn.

The wait before attempt *n + 1* is full jitter (``random() × min(maxDelayMs, minDelayMs × 2ⁿ⁻¹)``),
at least the provider's ``Retry-After``, and at most ``maxDelayMs``. A wait that would end past
the run's deadline (:data:`RUN_DEADLINE`, set by the runtime) is not slept: the failure is raised
at once, so the caller gets ``SYN_ERR_PROVIDER`` with ``retryAfterMs`` instead of a timeout after
sleeping out its deadline.

The provider SDK's own retries (openai: 2, with its own backoff) would multiply the attempts, so
each attempt runs with ``ModelSettings['max_retries'] = 0`` unless the agent's or the call's
``modelSettings`` set ``max_retries`` themselves.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.models import Model
from pydantic_ai.models.wrapper import WrapperModel

from ._provider import provider_details
from ._wrap import wrap_once
from .exceptions import InvalidOptionError

__all__ = ['RUN_DEADLINE', 'RetryPolicy', 'RetryingModel', 'backoff_ms', 'retry_policy']

_log = logging.getLogger('synapse_bridge.retry')

RUN_DEADLINE: ContextVar[float | None] = ContextVar('synapse_run_deadline', default=None)
"""The running run's deadline in event-loop time (``loop.time()``), or ``None`` without one."""

DEFAULT_MIN_DELAY_MS = 500
DEFAULT_MAX_DELAY_MS = 30_000


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts``: the most attempts at one model request, the first included (1: no retry)."""

    attempts: int
    min_delay_ms: float = DEFAULT_MIN_DELAY_MS
    max_delay_ms: float = DEFAULT_MAX_DELAY_MS
    rand: Callable[[], float] = field(default=random.random, compare=False)
    _wrapped: dict[int, tuple[Model, RetryingModel]] = field(default_factory=dict, compare=False, repr=False)

    def wrap(self, model: Model | str) -> RetryingModel:
        """The retrying wrapper of ``model`` (one per model instance, reused across runs)."""
        return wrap_once(self._wrapped, model, RetryingModel, lambda m: RetryingModel(m, self))


def retry_policy(spec: Any, option: str = 'retry') -> RetryPolicy:
    """The policy of an ``init`` agent's ``retry`` object (Node validated it; checked again here)."""
    if not isinstance(spec, dict):
        raise InvalidOptionError(f'option "{option}" must be an object', option)
    attempts = spec.get('attempts')
    lo = spec.get('minDelayMs', DEFAULT_MIN_DELAY_MS)
    hi = spec.get('maxDelayMs', DEFAULT_MAX_DELAY_MS)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        raise InvalidOptionError(f'option "{option}.attempts" must be an integer >= 1', f'{option}.attempts')
    for name, value in (('minDelayMs', lo), ('maxDelayMs', hi)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise InvalidOptionError(f'option "{option}.{name}" must be a number >= 0', f'{option}.{name}')
    if lo > hi:
        raise InvalidOptionError(f'option "{option}.minDelayMs" must not exceed maxDelayMs', f'{option}.minDelayMs')
    return RetryPolicy(attempts=attempts, min_delay_ms=lo, max_delay_ms=hi)


def backoff_ms(policy: RetryPolicy, failed_attempt: int, retry_after_ms: float | None) -> float:
    """The wait after attempt ``failed_attempt`` (1-based) failed: full jitter over an exponential
    ceiling, raised to ``retry_after_ms`` when the provider asked for more, capped at ``max_delay_ms``.
    Pure but for ``policy.rand``."""
    ceiling = min(policy.max_delay_ms, policy.min_delay_ms * 2 ** (failed_attempt - 1))
    delay = policy.rand() * ceiling
    if retry_after_ms is not None:
        delay = max(delay, retry_after_ms)
    return min(delay, policy.max_delay_ms)


class RetryingModel(WrapperModel):
    """``wrapped`` with failed requests retried per ``policy`` (see the module docstring)."""

    def __init__(self, wrapped: Model, policy: RetryPolicy) -> None:
        super().__init__(wrapped)
        self.policy = policy

    def _attempt_settings(self, model_settings: Any) -> Any:
        settings = dict(model_settings or {})
        settings.setdefault('max_retries', 0)  # ours replace the SDK's, unless the caller set them
        return settings

    async def _before_retry(self, exc: Exception, failed_attempt: int) -> None:
        """Returns after the backoff when ``exc`` is worth another attempt; else re-raises it."""
        details = provider_details(exc)
        if details is None or not details['retryable'] or failed_attempt >= self.policy.attempts:
            raise exc
        delay = backoff_ms(self.policy, failed_attempt, details.get('retryAfterMs'))
        deadline = RUN_DEADLINE.get()
        loop = asyncio.get_running_loop()
        if deadline is not None and loop.time() + delay / 1000 >= deadline:
            _log.info('provider %s: no retry, a %d ms wait would pass the run deadline', details['category'], round(delay))
            raise exc
        _log.info('provider %s (status %s): attempt %d of %d in %d ms', details['category'], details.get('status'), failed_attempt + 1, self.policy.attempts, round(delay))
        await asyncio.sleep(delay / 1000)

    async def request(self, messages: Any, model_settings: Any, model_request_parameters: Any) -> Any:
        settings = self._attempt_settings(model_settings)
        attempt = 1
        while True:
            try:
                return await self.wrapped.request(messages, settings, model_request_parameters)
            except Exception as exc:
                await self._before_retry(exc, attempt)
                attempt += 1

    @asynccontextmanager
    async def request_stream(
        self, messages: Any, model_settings: Any, model_request_parameters: Any, run_context: Any = None
    ) -> AsyncGenerator[Any]:
        settings = self._attempt_settings(model_settings)
        async with AsyncExitStack() as stack:
            attempt = 1
            while True:
                try:
                    stream = await stack.enter_async_context(self.wrapped.request_stream(messages, settings, model_request_parameters, run_context))
                    break
                except Exception as exc:  # failed while opening: nothing was delivered yet
                    await self._before_retry(exc, attempt)
                    attempt += 1
            yield stream
