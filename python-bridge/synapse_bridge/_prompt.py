"""Multimodal user prompts (feature ``multimodal_prompt``): ``run.prompt`` as a list of content parts.

A part is what ``ModelMessagesTypeAdapter`` dumps for an item of ``UserPromptPart.content`` in the
pinned pydantic-ai: a string, or an object tagged by ``kind`` (``image-url``, ``audio-url``,
``document-url``, ``video-url``, ``binary`` with base64 ``data`` and a ``media_type``,
``uploaded-file``, ``text-content``, ``structured-content``, ``cache-point``). The list is
validated into pydantic-ai's own ``UserContent`` objects (``ImageUrl``, ``BinaryContent``, …) and
given to ``agent.iter`` as ``user_prompt``; pydantic-ai then stores it in the history as it stores
any prompt. A string prompt never enters this module (the common, fast case).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Annotated, Any, Union

import pydantic
from pydantic import Discriminator, Tag, TypeAdapter, ValidationError
from pydantic_ai.messages import (
    AudioUrl,
    BinaryContent,
    CachePoint,
    DocumentUrl,
    ImageUrl,
    StructuredContent,
    TextContent,
    UploadedFile,
    UserContent,
    VideoUrl,
)
from pydantic_core import to_jsonable_python

from .exceptions import InvalidArgumentError

__all__ = ['PART_KINDS', 'dump_user_prompt', 'user_prompt']

# ``kind`` → pydantic-ai class. ``UserContent`` itself is a plain union (str | TextContent | … |
# a tagged union of the multimodal classes), whose errors for one bad part list every member; a
# single tagged union gives one error per bad part, at the part's index.
_CLASSES: dict[str, Any] = {
    'text-content': TextContent,
    'structured-content': StructuredContent,
    'image-url': ImageUrl,
    'audio-url': AudioUrl,
    'document-url': DocumentUrl,
    'video-url': VideoUrl,
    # As pydantic-ai's own MultiModalContent: a BinaryContent of an image/audio type becomes BinaryImage/BinaryAudio.
    'binary': Annotated[BinaryContent, pydantic.AfterValidator(BinaryContent.narrow_type)],
    'uploaded-file': UploadedFile,
    'cache-point': CachePoint,
}
PART_KINDS: tuple[str, ...] = tuple(_CLASSES)
"""The ``kind`` values a prompt part may have (src/prompt.ts checks the same list)."""


def _tag(value: Any) -> str | None:
    if isinstance(value, str):
        return 'str'
    if isinstance(value, dict):
        kind = value.get('kind')
        return kind if isinstance(kind, str) else None
    return getattr(value, 'kind', None)


_Part = Annotated[
    Union[tuple([Annotated[str, Tag('str')], *(Annotated[cls, Tag(kind)] for kind, cls in _CLASSES.items())])],  # noqa: UP007
    Discriminator(_tag, custom_error_type='unknown_part_kind', custom_error_message=f'Input should be a string or an object whose "kind" is one of: {", ".join(PART_KINDS)}'),
]


@functools.cache
def _adapter() -> TypeAdapter[list[Any]]:
    # As ModelMessagesTypeAdapter: bytes are base64 text in JSON (validated, and dumped, as such).
    return TypeAdapter(list[_Part], config=pydantic.ConfigDict(ser_json_bytes='base64', val_json_bytes='base64'))


def user_prompt(value: str | list[Any] | None) -> str | Sequence[UserContent] | None:
    """``run.prompt`` as pydantic-ai's ``user_prompt``: a string (or ``None``) as is, a list of
    parts validated into pydantic-ai's content classes.

    Raises:
        InvalidArgumentError: a part fails validation; ``errors`` is pydantic's error list with
            ``loc`` starting at the part index, without input values (a prompt may be private).
    """
    if value is None or isinstance(value, str):
        return value
    try:
        return _adapter().validate_python(value)
    except ValidationError as exc:
        errors = to_jsonable_python(exc.errors(include_input=False, include_url=False, include_context=True), fallback=str)
        first = errors[0] if errors else {'loc': [], 'msg': 'invalid'}
        where = f'prompt[{first["loc"][0]}]' if first['loc'] else 'prompt'
        more = f' (and {len(errors) - 1} more)' if len(errors) > 1 else ''
        raise InvalidArgumentError(f'{where} is not a valid pydantic-ai user content part: {first["msg"]}{more}', errors) from None


def dump_user_prompt(content: str | Sequence[UserContent]) -> Any:
    """The history JSON of a ``UserPromptPart.content``, as ``ModelMessagesTypeAdapter`` dumps it."""
    if isinstance(content, str):
        return content
    return _adapter().dump_python(list(content), mode='json')
