"""One wrapper model per model instance, reused across runs (the retry policy's and the slot
client's wrappers, ``_retry.py`` / ``_slots.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic_ai.models import Model, infer_model

W = TypeVar('W', bound=Model)


def wrap_once(cache: dict[int, tuple[Model, W]], model: Model | str, kind: type[W], make: Callable[[Model], W]) -> W:
    """The ``kind`` wrapper of ``model`` from ``cache`` (made by ``make`` the first time); a model
    name is resolved with ``infer_model``; a model that already is a ``kind`` is returned as is."""
    inner = infer_model(model) if isinstance(model, str) else model
    if isinstance(inner, kind):
        return inner
    hit = cache.get(id(inner))
    if hit is not None and hit[0] is inner:
        return hit[1]
    wrapper = make(inner)
    cache[id(inner)] = (inner, wrapper)  # the strong ref keeps id() unique
    return wrapper
