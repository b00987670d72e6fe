"""API specs in the OpenAI tools format, checked once so every later stage can trust them.

A spec is a JSON list of `{"type": "function", "function": {"name", "description", "parameters"}}`
(bare function objects are accepted too). Function i of the list is the functional token `<api_i>`,
so the order is part of the model: a trained tool model keeps its spec as `tools.json` beside the
weights, and `hare tools call` reads it from there.
"""

from __future__ import annotations

import json
import keyword
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hare.errors import HareError

BUNDLED = {"android": "android_apis.json"}
SPEC_FILE = "tools.json"  # the spec saved beside a trained tool model


@dataclass(frozen=True)
class Function:
    """One callable function; `index` is the i of its functional token `<api_i>`."""

    index: int
    name: str
    description: str
    parameters: dict[str, Any]

    @property
    def properties(self) -> dict[str, dict[str, Any]]:
        return self.parameters.get("properties", {})

    @property
    def required(self) -> list[str]:
        return list(self.parameters.get("required", []))

    @property
    def defaults(self) -> dict[str, Any]:
        return {k: p["default"] for k, p in self.properties.items() if "default" in p}

    def to_openai(self) -> dict[str, Any]:
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}


def bundled_path(name: str) -> Path:
    return Path(str(resources.files("hare.tools") / "specs" / BUNDLED[name]))


def load_spec(source: str | Path) -> list[Function]:
    """Read and check a spec file (or a bundled name: `android`)."""
    path = bundled_path(str(source)) if str(source) in BUNDLED else Path(source)
    if not path.is_file():
        raise HareError(f"spec file {path} not found; pass a JSON list of OpenAI tool definitions "
                        f"or a bundled spec ({', '.join(BUNDLED)})")
    try:
        items = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise HareError(f"spec {path} is not valid JSON ({err})") from None
    return parse_spec(items, str(path))


def parse_spec(items: Any, where: str = "spec") -> list[Function]:
    """Functions from OpenAI tool definitions; every problem names the item and how to fix it."""
    from jsonschema import Draft202012Validator, SchemaError

    if not isinstance(items, list) or not items:
        raise HareError(f"{where}: a spec is a non-empty JSON list of tool definitions")
    functions: list[Function] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        body = item.get("function", item) if isinstance(item, dict) else None
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise HareError(f"{where}: item {i} has no function name; write "
                            '{"type": "function", "function": {"name": …, "description": …, "parameters": …}}')
        name = body["name"]
        if name in seen:
            raise HareError(f"{where}: duplicate function name '{name}' (items {seen[name]} and {i}); "
                            "each function needs its own name")
        seen[name] = i
        params = body.get("parameters", {"type": "object", "properties": {}})
        try:
            Draft202012Validator.check_schema(params)
        except SchemaError as err:
            raise HareError(f"{where}: parameters of '{name}' are not a valid JSON Schema: {err.message}") from None
        if params.get("type") != "object":
            raise HareError(f"{where}: parameters of '{name}' must be a JSON Schema of type 'object'")
        for arg in params.get("properties", {}):
            if not arg.isidentifier() or keyword.iskeyword(arg):
                raise HareError(f"{where}: argument '{arg}' of '{name}' is not a Python identifier; calls are "
                                "written name=value, so rename it")
        missing = [r for r in params.get("required", []) if r not in params.get("properties", {})]
        if missing:
            raise HareError(f"{where}: '{name}' requires {missing} but does not define them in 'properties'")
        functions.append(Function(i, name, str(body.get("description", "")), params))
    return functions


def check_capacity(functions: list[Function], available: int) -> None:
    """One functional token per function: a spec larger than the tokenizer's set cannot be learned."""
    if len(functions) > available:
        raise HareError(f"the spec has {len(functions)} functions but the tokenizer has {available} functional "
                        f"tokens (<api_0>…); use a model with at least {len(functions)} (hare init "
                        f"--functional-tokens {len(functions)}) or split the spec")


def save_spec(functions: list[Function], directory: Path) -> None:
    (directory / SPEC_FILE).write_text(json.dumps([f.to_openai() for f in functions], indent=1) + "\n")
