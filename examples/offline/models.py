"""Offline models for ``examples/agents/weather.py`` (docs/testing.md).

``scripted`` is a zero-arg factory of a pydantic-ai ``FunctionModel`` playing the weather
conversation: geocode the prompt, fetch the weather, have the sub-agent summarise, answer.
"""

from __future__ import annotations

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel


def _weather_turn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    prompt = next(str(p.content) for m in reversed(messages) if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart))
    last = messages[-1]
    returned = {p.tool_name: p.content for p in last.parts if isinstance(p, ToolReturnPart)} if isinstance(last, ModelRequest) else {}
    if 'get_lat_lng' in returned:
        return ModelResponse(parts=[ToolCallPart('get_weather', returned['get_lat_lng'])])
    if 'get_weather' in returned:
        w = returned['get_weather']
        return ModelResponse(parts=[ToolCallPart('summarise', {'forecast': f'{w["temperature"]}, {w["description"]}'})])
    if 'summarise' in returned:
        forecast = next(p.args_as_dict()['forecast'] for m in reversed(messages) if isinstance(m, ModelResponse) for p in m.parts if isinstance(p, ToolCallPart) and p.tool_name == 'summarise')
        return ModelResponse(parts=[TextPart(f'{prompt}: {forecast}. {returned["summarise"]}')])
    return ModelResponse(parts=[ToolCallPart('get_lat_lng', {'location_description': prompt})])


def scripted() -> FunctionModel:
    """The scripted weather conversation (a fresh ``FunctionModel``)."""
    return FunctionModel(_weather_turn, model_name='weather-script')
