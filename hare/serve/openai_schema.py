"""OpenAI request bodies (validated with pydantic) and response bodies, as the official clients expect them.

Field names, defaults and ranges follow the OpenAI API reference: `temperature` 1 and `top_p` 1 by
default, `max_tokens` 16 for completions and unlimited (here: the server's cap) for chat, at most
4 stop strings, `n` 1. Unknown fields are ignored, as OpenAI-compatible servers do, so newer clients
keep working. `ignore_eos` is an extension (vLLM's name): generate exactly `max_tokens`, for
benchmarks. Errors use OpenAI's `{"error": {"message", "type", "param", "code"}}` body.

Validation is strict, because every value that slips through reaches the engine thread, where a
failure costs more than a 400: no coercion (`"16"` and `true` are not numbers), finite floats only,
`seed` within what a torch generator takes, and no lone UTF-16 surrogates (`"\ud800"` is valid JSON
but no tokenizer can encode it), each refusal naming its field.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hare.config import TORCH_SEEDS
from hare.io.read import encodable

# A request is untrusted input: strict types, extra fields ignored (newer clients send more).
STRICT = ConfigDict(extra="ignore", strict=True)


class ApiError(Exception):
    """An error the API answers with `status` and an OpenAI error body."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.param, self.code, self.kind = status, param, code, kind

    def body(self) -> dict[str, Any]:
        return error_body(str(self), self.kind, self.param, self.code)


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


Text = Annotated[str, AfterValidator(encodable)]


class StreamOptions(BaseModel):
    model_config = STRICT

    include_usage: bool = False


class _GenerationRequest(BaseModel):
    model_config = STRICT

    model: Text = "default"  # any name is accepted: the server serves one model
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2, allow_inf_nan=False)
    top_p: float = Field(1.0, gt=0, le=1, allow_inf_nan=False)
    stop: Text | list[Text] | None = Field(None, validate_default=True)
    seed: int | None = Field(None, ge=TORCH_SEEDS[0], le=TORCH_SEEDS[1])
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Literal[1] = 1  # one choice per request
    ignore_eos: bool = False

    @model_validator(mode="before")
    @classmethod
    def _null_is_unsent(cls, data: Any) -> Any:
        """`null` for an optional field is the field not sent, as OpenAI reads it: `"temperature": null` is 1, and
        the official clients send such nulls (a 400 "Input should be a valid number" had answered them)."""
        if not isinstance(data, dict):
            return data
        optional = {name for name, field in cls.model_fields.items() if not field.is_required()}
        return {key: value for key, value in data.items() if value is not None or key not in optional}

    @field_validator("stop")
    @classmethod
    def _at_most_four(cls, stop: str | list[str] | None) -> list[str]:
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        return stops


class CompletionRequest(_GenerationRequest):
    prompt: Text | list[Text] | list[int] = Field(min_length=1)
    echo: Literal[False] = False

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, prompt: str | list[str] | list[int]) -> str | list[int]:
        if isinstance(prompt, list) and isinstance(prompt[0], str):
            if len(prompt) != 1:
                raise ValueError("one prompt per request (send several requests; the server batches them)")
            return prompt[0]
        return prompt


class ContentPart(BaseModel):
    model_config = STRICT

    type: Text
    text: Text

    @field_validator("type")
    @classmethod
    def _text_only(cls, kind: str) -> str:
        # A Literal["text"] had answered an image part with pydantic's "Input should be a valid string" (of the
        # content's other form), which says nothing of why.
        if kind != "text":
            raise ValueError(f"this model reads text only: send content parts of type 'text', not {kind[:40]!r}")
        return kind


class ChatMessage(BaseModel):
    model_config = STRICT

    # "developer" is what OpenAI's newer clients send for the system message (o1 and later): the same turn here.
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | list[ContentPart] | None = None

    def template_role(self) -> str:
        return "system" if self.role == "developer" else self.role

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class FunctionSpec(BaseModel):
    model_config = STRICT

    name: Text = Field(min_length=1, max_length=64)
    description: Text = ""
    # Left out, a function takes no arguments (as OpenAI reads it), not an empty schema that is no object's.
    parameters: Annotated[dict[str, Any], AfterValidator(encodable)] = Field(
        default_factory=lambda: {"type": "object", "properties": {}})


class ToolSpec(BaseModel):
    model_config = STRICT

    type: Literal["function"]
    function: FunctionSpec


class NamedFunction(BaseModel):
    model_config = STRICT

    name: Text = Field(min_length=1, max_length=64)


class NamedToolChoice(BaseModel):
    model_config = STRICT

    type: Literal["function"]
    function: NamedFunction


class ChatCompletionRequest(_GenerationRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)  # the newer name of max_tokens
    tools: list[ToolSpec] | None = None
    # OpenAI's values: "none" answers in text, "auto" (the default with tools) lets the model choose,
    # "required" or one named function demands a call (a model that answers without one gets a 422).
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool = True  # false: at most one call, the first the model makes

    @field_validator("tool_choice", mode="wrap")
    @classmethod
    def _choice_shape(cls, value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValidationError:  # one message for the union, not pydantic's first branch
            raise ValueError("must be 'none', 'auto', 'required' or "
                             '{"type": "function", "function": {"name": "<one of the tools>"}}') from None

    @model_validator(mode="after")
    def _choice_among_tools(self) -> ChatCompletionRequest:
        choice, names = self.tool_choice, [t.function.name for t in self.tools or []]
        if self.call_required() and not names:
            raise ValueError("tool_choice 'required' or a named function needs 'tools' to choose from")
        if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
            raise ValueError(f"tool_choice names '{choice.function.name}', which is not among the request's "
                             f"tools ({', '.join(names)})")
        return self

    def offered(self) -> list[ToolSpec]:
        """The tools the model may call: all of them, or the one `tool_choice` names."""
        if isinstance(self.tool_choice, NamedToolChoice):
            return [t for t in self.tools or [] if t.function.name == self.tool_choice.function.name]
        return [] if self.tool_choice == "none" else list(self.tools or [])

    def call_required(self) -> bool:
        return self.tool_choice == "required" or isinstance(self.tool_choice, NamedToolChoice)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def envelope(object_name: str, rid: str, model: str, choices: list[dict[str, Any]],
             usage_counts: dict[str, int] | None = None) -> dict[str, Any]:
    """The fields every completion, chat completion and streamed chunk share."""
    body = {"id": rid, "object": object_name, "created": int(time.time()), "model": model, "choices": choices}
    if usage_counts is not None:
        body["usage"] = usage_counts
    return body


def text_choice(text: str, finish_reason: str | None) -> dict[str, Any]:
    return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}


def chat_choice(message: dict[str, Any], finish_reason: str | None, delta: bool = False) -> dict[str, Any]:
    return {"index": 0, "delta" if delta else "message": message, "logprobs": None, "finish_reason": finish_reason}


def tool_call_message(calls: list[dict[str, Any]], delta: bool = False) -> dict[str, Any]:
    """An assistant message carrying OpenAI `tool_calls` (`calls`: `{"name", "arguments"}` with JSON text)."""
    entries = [{"id": new_id("call"), "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]}} for call in calls]
    if delta:
        entries = [{"index": i, **entry} for i, entry in enumerate(entries)]
    return {"role": "assistant", "content": None, "tool_calls": entries}
