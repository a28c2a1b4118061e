"""The load tool's agent: the example support agent, plus a chaos hook.

``agent`` is ``examples/agents/support.py:agent`` unchanged (multi-step: a ``lookup_order``
tool call, its result, then an answer echoing the prompt and ``history=N``). Loading this
module also installs a ``SIGUSR1`` handler that writes bytes which are not a frame to the
protocol stream (``synapse_bridge.testing.write_raw``): the load tool's ``garbage`` chaos
sends that signal, and Node must treat the worker as defective and replace it. The handler
only exists in processes that load this module, never in a real agent.
"""

from __future__ import annotations

import asyncio
import importlib.util
import signal
from pathlib import Path

from synapse_bridge import testing

_SUPPORT = Path(__file__).resolve().parents[2] / 'examples' / 'agents' / 'support.py'
_spec = importlib.util.spec_from_file_location('synapse_load_support', _SUPPORT)
assert _spec is not None and _spec.loader is not None
_support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_support)

agent = _support.agent

GARBAGE = b'\x00this is not a frame {{{\n'


def _write_garbage() -> None:
    testing.write_raw(GARBAGE)


def _install() -> None:
    try:
        # Agents are loaded on the runtime's event loop (the main thread): a loop signal
        # handler runs as an ordinary callback, so taking the writer lock there is safe.
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _write_garbage)
    except RuntimeError:
        pass  # imported outside the runtime (e.g. by a linter): no chaos hook, nothing to corrupt


_install()
