"""A production-shaped agent, modelled on pydantic-ai's ``weather_agent`` example: a real model of
its own, per-call deps, tools, and a sub-agent it delegates to inside a tool (usage shared).

Nothing here is test-specific: ``docs/testing.md`` shows how to run it offline under Synapse
(``examples/offline/``) without editing it — the top-level model replaced with spawnAgent's
``model`` option, the sub-agent's with pydantic-ai's own ``Agent.override`` in a test setup module.
Run for real, it needs ``OPENAI_API_KEY`` in ``spawnAgent({ python: { env } })``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic_ai import Agent, RunContext

# A stand-in for the geocoding / weather HTTP APIs of the original example (it needs API keys).
_PLACES = {'london': (51.5072, -0.1276), 'paris': (48.8566, 2.3522), 'wiltshire': (51.3492, -1.9927)}


@dataclass
class WeatherDeps:
    """Per-call deps (JSON from Node): the units the user wants."""

    units: str = 'metric'


summary_agent = Agent('openai:gpt-4o-mini', output_type=str, name='summary', instructions='Summarise the forecast in one sentence.')

agent = Agent(
    'openai:gpt-4o-mini',
    deps_type=WeatherDeps,
    name='weather',
    instructions='Be concise, reply with one sentence. Use get_lat_lng, then get_weather, then summarise.',
)


@agent.tool_plain
def get_lat_lng(location_description: str) -> dict[str, float]:
    """Latitude and longitude of a location."""
    lat, lng = _PLACES.get(location_description.strip().lower(), (0.0, 0.0))
    return {'lat': lat, 'lng': lng}


@agent.tool
def get_weather(ctx: RunContext[WeatherDeps], lat: float, lng: float) -> dict[str, str]:
    """The weather at a location."""
    temperature = 21 if ctx.deps.units == 'metric' else 70
    unit = '°C' if ctx.deps.units == 'metric' else '°F'
    return {'temperature': f'{temperature} {unit}', 'description': 'Sunny' if lat > 50 else 'Cloudy'}


@agent.tool
async def summarise(ctx: RunContext[WeatherDeps], forecast: str) -> str:
    """A one-sentence summary of a forecast, written by the summary sub-agent."""
    result = await summary_agent.run(forecast, usage=ctx.usage)  # the sub-agent's usage counts in this run's
    return result.output
