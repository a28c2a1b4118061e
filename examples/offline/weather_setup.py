"""Test setup for running ``examples/agents/weather.py`` offline under Synapse (docs/testing.md).

The top-level agent's model is replaced per spawn (``spawnAgent({ model: 'test' })``); its
sub-agent has no spawn of its own, so it is overridden here with pydantic-ai's own idiom. Synapse
runs every turn in a copy of the context this module was imported in, so the override holds for
every run of the worker, exactly as ``with summary_agent.override(...)`` would in-process.
"""

from contextlib import ExitStack

from pydantic_ai.models.test import TestModel

from examples.agents.weather import agent, summary_agent

# Entered for the life of the worker process. Keep the stack referenced: a context manager
# collected by the GC would be closed, undoing the override.
_overrides = ExitStack()
_overrides.enter_context(summary_agent.override(model=TestModel(custom_output_text='Sunny and mild all day.')))

__all__ = ['agent']
