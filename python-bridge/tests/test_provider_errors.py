"""Provider failures (``_provider``): pydantic-ai's model API errors and the openai SDK's own
exceptions become the ``provider`` object of an ``error`` frame (Node's ``SYN_ERR_PROVIDER``).

The same failures over real HTTP (LLMock) are tested end to end from Node in
``test/integration/agents/providers.test.ts``; here each category is pinned in process, including
the ones LLMock cannot produce (SDK timeouts, pydantic-ai's request timeout, an unwrapped SDK error).
"""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest
from pydantic_ai import exceptions as pai

from synapse_bridge._provider import provider_details, require_finish_reason
from synapse_bridge.exceptions import classify, error_frame


def _http(category: type[pai.ModelAPIError], status: int, body: object | None = None) -> pai.ModelHTTPError:
    return pai.ModelHTTPError.for_category(category, status_code=status, model_name='gpt-4o-mini', body=body)


def _response(status: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(status, headers=headers, request=httpx2.Request('POST', 'http://127.0.0.1:1/v1/chat/completions'))


@pytest.mark.parametrize(
    ('exc', 'expected'),
    [
        (_http(pai.ModelRateLimitError, 429), {'category': 'rate_limit', 'status': 429, 'retryable': True}),
        (_http(pai.ModelQuotaExceededError, 429), {'category': 'quota', 'status': 429, 'retryable': False}),
        (_http(pai.ModelUnavailableError, 503), {'category': 'server', 'status': 503, 'retryable': True}),
        (_http(pai.ModelOverloadedError, 529), {'category': 'server', 'status': 529, 'retryable': True}),
        (_http(pai.ModelServerError, 500), {'category': 'server', 'status': 500, 'retryable': True}),
        (_http(pai.ModelAuthenticationError, 401), {'category': 'auth', 'status': 401, 'retryable': False}),
        (_http(pai.ModelNotFoundError, 404), {'category': 'not_found', 'status': 404, 'retryable': False}),
        (_http(pai.ModelContextWindowExceededError, 400), {'category': 'bad_request', 'status': 400, 'retryable': False}),
        (_http(pai.ModelRequestRejectedError, 422), {'category': 'bad_request', 'status': 422, 'retryable': False}),
        # Uncategorised HTTP errors: by status.
        (pai.ModelHTTPError(429, 'm'), {'category': 'rate_limit', 'status': 429, 'retryable': True}),
        (pai.ModelHTTPError(502, 'm'), {'category': 'server', 'status': 502, 'retryable': True}),
        (pai.ModelHTTPError(403, 'm'), {'category': 'auth', 'status': 403, 'retryable': False}),
        (pai.ModelHTTPError(408, 'm'), {'category': 'timeout', 'status': 408, 'retryable': True}),
        (pai.ModelHTTPError(418, 'm'), {'category': 'bad_request', 'status': 418, 'retryable': False}),
        # No HTTP response.
        (pai.ModelConnectionError('m', 'Connection error.', phase='read'), {'category': 'connection', 'retryable': True}),
        (pai.ModelTimeoutError('m', 'Request timed out.'), {'category': 'timeout', 'retryable': True}),
        (pai.ModelRequestTimeout('m', 30.0), {'category': 'timeout', 'retryable': True}),
        (pai.ModelAPIError('m', 'Streamed response ended without a `finish_reason`'), {'category': 'connection', 'retryable': True}),
        (pai.ModelAPIError('m', 'something else'), {'category': 'unknown', 'retryable': True}),
    ],
)
def test_pydantic_ai_model_api_errors(exc: pai.ModelAPIError, expected: dict[str, Any]) -> None:
    assert provider_details(exc) == expected
    assert classify(exc) == ('provider', expected['retryable'])


def test_retry_after_and_provider_code_come_from_pydantic_ai() -> None:
    exc = pai.ModelRateLimitError('m', 'slow down', provider_error_code='rate_limit_exceeded', retry_after=2.5)
    assert provider_details(exc) == {'category': 'rate_limit', 'retryAfterMs': 2500, 'providerCode': 'rate_limit_exceeded', 'retryable': True}


def test_a_provider_code_that_is_not_an_identifier_is_dropped() -> None:
    """``providerCode`` is not scrubbed by Node (only message and traceback are): free text there
    could echo a request's content or a key, so only identifier-like codes are forwarded."""
    exc = pai.ModelAPIError('m', 'x', provider_error_code='Incorrect key sk-abc 123 provided')
    assert 'providerCode' not in (provider_details(exc) or {})


@pytest.mark.parametrize(
    ('exc', 'expected'),
    [
        (openai.RateLimitError('quota', response=_response(429, {'retry-after-ms': '1500'}), body={'code': 'insufficient_quota'}), {'category': 'quota', 'status': 429, 'retryAfterMs': 1500, 'providerCode': 'insufficient_quota', 'retryable': False}),
        (openai.RateLimitError('slow', response=_response(429, {'retry-after': '3'}), body={'code': 'rate_limit_exceeded'}), {'category': 'rate_limit', 'status': 429, 'retryAfterMs': 3000, 'providerCode': 'rate_limit_exceeded', 'retryable': True}),
        (openai.InternalServerError('boom', response=_response(500), body=None), {'category': 'server', 'status': 500, 'retryable': True}),
        (openai.AuthenticationError('no', response=_response(401), body={'code': 'invalid_api_key'}), {'category': 'auth', 'status': 401, 'providerCode': 'invalid_api_key', 'retryable': False}),
        (openai.APIConnectionError(request=httpx2.Request('POST', 'http://127.0.0.1:1/v1')), {'category': 'connection', 'retryable': True}),
        (openai.APITimeoutError(request=httpx2.Request('POST', 'http://127.0.0.1:1/v1')), {'category': 'timeout', 'retryable': True}),
    ],
)
def test_openai_sdk_errors_that_reach_the_bridge_unwrapped(exc: openai.APIError, expected: dict[str, Any]) -> None:
    assert provider_details(exc) == expected
    frame = error_frame(exc, 'r1')
    assert (frame['kind'], frame['retryable'], frame['provider']) == ('provider', expected['retryable'], expected)


def test_other_exceptions_are_not_provider_failures() -> None:
    for exc in (ValueError('x'), pai.UnexpectedModelBehavior('weird'), pai.UsageLimitExceeded('n'), RuntimeError('Model requests are not allowed')):
        assert provider_details(exc) is None
        assert classify(exc)[0] != 'provider'
        assert 'provider' not in error_frame(exc, 'r1')


def test_error_frame_carries_the_provider_object_only_for_its_own_kind() -> None:
    exc = _http(pai.ModelRateLimitError, 429)
    assert error_frame(exc, 'r1')['provider'] == {'category': 'rate_limit', 'status': 429, 'retryable': True}
    # Overridden kinds (deadline, cancellation) are not provider failures on the wire.
    assert 'provider' not in error_frame(exc, 'r1', kind='timeout', retryable=True)


def test_require_finish_reason_turns_on_pydantic_ais_check_through_wrappers() -> None:
    from pydantic_ai.models.instrumented import InstrumentedModel
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.models.test import TestModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel('gpt-4o-mini', provider=OpenAIProvider(base_url='http://127.0.0.1:1/v1', api_key='k'))
    assert not model.profile.get('openai_chat_streaming_requires_finish_reason')
    require_finish_reason(InstrumentedModel(model))
    assert model.profile['openai_chat_streaming_requires_finish_reason'] is True
    require_finish_reason(TestModel())  # not an OpenAI chat model: nothing to do, no error
    require_finish_reason(None)
