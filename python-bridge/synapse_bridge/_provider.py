"""Provider failures: pydantic-ai's model API errors as the wire's ``provider`` error details.

pydantic-ai raises :class:`~pydantic_ai.exceptions.ModelAPIError` (and its category subclasses,
an HTTP one also a :class:`~pydantic_ai.exceptions.ModelHTTPError`) when a model provider's API
request fails; it already reads the status, the provider's error code and ``Retry-After``. This
module turns one into the ``provider`` object of an ``error`` frame (kind ``provider``, Node's
``SYN_ERR_PROVIDER``): ``category``, ``status``, ``retryAfterMs``, ``providerCode`` and whether a
retry can help. The openai SDK's own exceptions (``openai.APIStatusError``,
``openai.APIConnectionError``), should one reach the bridge unwrapped, are classified the same way.

It also makes a streamed OpenAI chat response that ends without a ``finish_reason`` (a cut
stream) an error instead of a truncated answer, through pydantic-ai's own profile setting
``openai_chat_streaming_requires_finish_reason``.
"""

from __future__ import annotations

import sys
import re
from typing import Any, Literal, TypeGuard

__all__ = ['ProviderCategory', 'provider_details', 'require_finish_reason']

ProviderCategory = Literal[
    'rate_limit', 'quota', 'server', 'connection', 'timeout', 'auth', 'not_found', 'bad_request', 'unknown'
]
"""What went wrong at the provider (``details.category`` of ``SYN_ERR_PROVIDER``)."""

#: Categories a retry cannot fix: an exhausted quota, a bad key, a rejected request, a wrong model.
NOT_RETRYABLE: frozenset[str] = frozenset({'quota', 'auth', 'bad_request', 'not_found'})

_CODE = re.compile(r'[A-Za-z0-9_.:-]{1,64}')

#: pydantic-ai's message for a stream that ended before its finish reason (``ModelAPIError``).
_NO_FINISH_REASON = 'without a `finish_reason`'


def _category_of_status(status: int) -> ProviderCategory:
    if status == 429:
        return 'rate_limit'
    if status in (401, 403):
        return 'auth'
    if status == 404:
        return 'not_found'
    if status == 408:
        return 'timeout'
    if status >= 500:
        return 'server'
    return 'bad_request'


def _pai_category(exc: Any) -> ProviderCategory:
    from pydantic_ai import exceptions as e

    # Most specific first: a quota error is not a rate limit, a timeout is a connection error.
    table: tuple[tuple[type[BaseException], ProviderCategory], ...] = (
        (e.ModelQuotaExceededError, 'quota'),
        (e.ModelRateLimitError, 'rate_limit'),
        (e.ModelAuthenticationError, 'auth'),
        (e.ModelNotFoundError, 'not_found'),
        (e.ModelRequestRejectedError, 'bad_request'),
        (e.ModelTimeoutError, 'timeout'),
        (e.ModelRequestTimeout, 'timeout'),
        (e.ModelConnectionError, 'connection'),
        (e.ModelUnavailableError, 'server'),
        (e.ModelServerError, 'server'),
    )
    for cls, category in table:
        if isinstance(exc, cls):
            return category
    if isinstance(exc, e.ModelHTTPError):
        return _category_of_status(exc.status_code)
    if _NO_FINISH_REASON in str(exc):
        return 'connection'  # the stream was cut: what arrived is not the whole answer
    return 'unknown'


def _openai_details(exc: BaseException) -> dict[str, Any] | None:
    """Details of an openai SDK exception, when the openai SDK is loaded and ``exc`` is one."""
    openai = sys.modules.get('openai')
    if openai is None or not isinstance(exc, openai.APIError):
        return None
    if isinstance(exc, openai.APITimeoutError):
        return {'category': 'timeout'}
    if isinstance(exc, openai.APIConnectionError):
        return {'category': 'connection'}
    out: dict[str, Any] = {}
    status = getattr(exc, 'status_code', None)
    if isinstance(status, int):
        out['status'] = status
        out['category'] = _category_of_status(status)
    else:
        out['category'] = 'unknown'
    code = getattr(exc, 'code', None)
    if _is_code(code):
        out['providerCode'] = code
        if code == 'insufficient_quota':
            out['category'] = 'quota'
    response = getattr(exc, 'response', None)
    headers = getattr(response, 'headers', None)
    if headers is not None:
        retry_after = _retry_after_seconds(headers)
        if retry_after is not None:
            out['retryAfterMs'] = round(retry_after * 1000)
    return out


def _is_code(code: object) -> TypeGuard[str]:
    """Whether ``code`` looks like a machine-readable error code. Node scrubs secrets out of an error's
    message and traceback, not its details, so free text (which could echo a key) is not forwarded."""
    return isinstance(code, str) and _CODE.fullmatch(code) is not None


def _retry_after_seconds(headers: Any) -> float | None:
    ms = headers.get('retry-after-ms')
    try:
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        seconds = headers.get('retry-after')
        return max(0.0, float(seconds)) if seconds is not None else None
    except ValueError:  # an HTTP-date or garbage: not worth a date parser here
        return None


def provider_details(exc: BaseException) -> dict[str, Any] | None:
    """The ``provider`` object of the ``error`` frame for ``exc``, or ``None`` when ``exc`` is not a
    provider failure. Keys: ``category``, ``retryable``, and when known ``status``, ``retryAfterMs``,
    ``providerCode``."""
    pai = sys.modules.get('pydantic_ai.exceptions')
    if pai is not None and isinstance(exc, pai.ModelAPIError):
        out: dict[str, Any] = {'category': _pai_category(exc)}
        status = getattr(exc, 'status_code', None)
        if isinstance(status, int):
            out['status'] = status
        if exc.retry_after is not None:
            out['retryAfterMs'] = round(exc.retry_after * 1000)
        if _is_code(exc.provider_error_code):
            out['providerCode'] = exc.provider_error_code
    else:
        details = _openai_details(exc)
        if details is None:
            return None
        out = details
    out['retryable'] = out['category'] not in NOT_RETRYABLE
    return out


_OPENAI_CHAT_MODEL: list[type[Any]] = []


def _openai_chat_model() -> type[Any] | None:
    """``OpenAIChatModel`` once the openai SDK is loaded (an instance cannot exist before), else ``None``."""
    if _OPENAI_CHAT_MODEL:
        return _OPENAI_CHAT_MODEL[0]
    if 'openai' not in sys.modules:
        return None
    try:
        from pydantic_ai.models.openai import OpenAIChatModel
    except ImportError:  # pragma: no cover - the openai extra is half installed
        return None
    _OPENAI_CHAT_MODEL.append(OpenAIChatModel)
    return OpenAIChatModel


def require_finish_reason(model: Any) -> None:
    """Makes a streamed response of ``model`` (or of the model it wraps) that ends without a
    ``finish_reason`` raise pydantic-ai's ``ModelAPIError`` instead of passing as ``'stop'``.

    pydantic-ai leaves this off by default because some OpenAI-compatible servers never send a
    finish reason; Synapse turns it on, as a truncated answer committed to a conversation is worse
    than a failed turn (docs/providers.md).
    """
    seen = 0
    while model is not None and seen < 8:  # wrappers (instrumentation, …) nest a few deep at most
        cls = _openai_chat_model()
        if cls is None:
            return
        if isinstance(model, cls):
            profile = model.profile
            if not profile.get('openai_chat_streaming_requires_finish_reason'):
                profile['openai_chat_streaming_requires_finish_reason'] = True
            return
        model = getattr(model, 'wrapped', None)
        seen += 1
