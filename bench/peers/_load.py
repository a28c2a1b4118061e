"""Loads a pydantic-ai agent from ``path/to/file.py:attr`` (the same refs Synapse takes)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any


def load_agent(ref: str) -> Any:
    """Imports ``file.py`` (relative to the current directory) and returns its ``attr``."""
    path, _, attr = ref.rpartition(':')
    spec = importlib.util.spec_from_file_location(f'bench_peer_{Path(path).stem}', Path(path).resolve())
    if spec is None or spec.loader is None:
        raise ImportError(f'cannot load {path}')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attr)
