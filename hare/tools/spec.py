"""API specs in the OpenAI tools format, checked once so every later stage can trust them.

A spec is a JSON list of `{"type": "function", "function": {"name", "description", "parameters"}}`
(bare function objects are accepted too). Function i of the list is the functional token `<api_i>`,
so the order is part of the model: a trained tool model keeps its spec as `tools.json` beside the
weights, and `hare tools call` reads it from there.

Parameter schemas come from users (a served request carries its own tools), so they are checked
before anything compiles them: only the keywords the grammar or the validator understand, at most
`MAX_DEPTH` levels of nesting, finite bounds, and string `pattern`s from a subset that cannot
backtrack for long and always ends (no nested or alternating repetitions, no backreferences or lookarounds,
a width of at most `VALUE_CHARS`). Each refusal names the schema path, e.g. `parameters.properties.level`.
"""

from __future__ import annotations

import json
import keyword
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.errors import HareError
from hare.io.read import read_json
from hare.model.tokenizer import MAX_FUNCTIONAL_TOKENS

if TYPE_CHECKING:
    from jsonschema import FormatChecker

BUNDLED = {"android": "android_apis.json"}
SPEC_FILE = "tools.json"  # the spec saved beside a trained tool model

# Keywords a parameter schema may use: the grammar shapes values with some (type, enum, bounds,
# pattern, format), the validator checks the rest after decoding, annotations are read by nobody.
# Anything else ($ref, anyOf, not, if/then, …) would be silently ignored by the grammar or, for a
# hostile spec, expensive to check, so it is refused.
KEYWORDS = {"type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
            "pattern", "format", "minLength", "maxLength", "properties", "required", "additionalProperties",
            "items", "minItems", "maxItems", "uniqueItems", "const",
            "title", "description", "default", "examples", "$schema"}
TYPES = {"string", "integer", "number", "boolean", "array", "object", "null"}
FORMATS = {"email"}
ENUM_MEMBERS = {  # what an enum member of each type must be (a bool is an int to Python, not to JSON Schema)
    "string": lambda m: isinstance(m, str),
    "integer": lambda m: isinstance(m, int) and not isinstance(m, bool) or isinstance(m, float) and m.is_integer(),
    "number": lambda m: isinstance(m, int | float) and not isinstance(m, bool),
    "boolean": lambda m: isinstance(m, bool),
}
MAX_DEPTH = 6  # object in object in …: a phone API needs two or three
# Arrays and objects in one another anywhere in a function's parameters, values (`default`, `const`, `examples`)
# included: 1 KB of brackets in a served request's `default` nests 250 deep, and jsonschema's equality check and
# `call_shape` recursed past Python's limit on it (a 500). The schema levels above take about 2 * MAX_DEPTH + 4.
MAX_JSON_DEPTH = 32
MAX_ENUM = 256
MAX_PATTERN = 200  # characters
LARGEST_BOUND = 2**53  # beyond this JSON numbers lose digits
VALUE_CHARS = 96  # longest string value: a tool argument is a name, a number, a short message
EMAIL = r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{1,48}\.[A-Za-z]{2,16}"


def is_free_text(schema: dict[str, Any]) -> bool:
    """A string argument with no enum, pattern or format: its value is words taken from the request."""
    return schema.get("type") == "string" and not {"enum", "pattern", "format"} & set(schema)


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

    def call_shape(self) -> Any:
        """What a call of this function must satisfy: its parameters' schema without the prose (descriptions,
        titles, examples) and the `additionalProperties` clients add, `required` in any order, an empty
        `required` or `properties` as none."""
        return _shape(self.parameters)


IGNORED = frozenset({"description", "title", "examples", "$comment", "additionalProperties"})
NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions"})


def _shape(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_shape(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    shape: dict[str, Any] = {}
    for key, value in schema.items():
        if key in IGNORED or key in ("required", "properties") and not value:  # none said and none listed: alike
            continue
        if key in NAMED_SCHEMAS and isinstance(value, dict):  # keys there are names, not keywords
            shape[key] = {name: _shape(sub) for name, sub in value.items()}
        elif key == "required" and isinstance(value, list):
            shape[key] = sorted(map(str, value))
        else:
            shape[key] = _shape(value)
    return shape


def bundled_path(name: str) -> Path:
    return Path(str(resources.files("hare.tools") / "specs" / BUNDLED[name]))


def load_spec(source: str | Path) -> list[Function]:
    """Read and check a spec file (or a bundled name: `android`)."""
    path = bundled_path(str(source)) if str(source) in BUNDLED else Path(source)
    items = read_json(path, "spec file", "pass a JSON list of OpenAI tool definitions or a bundled spec "
                      f"({', '.join(BUNDLED)})")
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
        if nesting(params) > MAX_JSON_DEPTH:
            raise HareError(f"{where}: parameters of '{name}' nest arrays and objects more than {MAX_JSON_DEPTH} "
                            "levels deep; a tool's arguments need a few")
        try:
            Draft202012Validator.check_schema(params)
        except SchemaError as err:
            raise HareError(f"{where}: parameters of '{name}' are not a valid JSON Schema: {err.message}") from None
        except RecursionError:
            raise HareError(f"{where}: parameters of '{name}': schemas nest deeper than {MAX_DEPTH} levels") from None
        except OverflowError as err:  # e.g. a pattern whose repeat count `re` cannot compile: "a{1,4294967295}"
            raise HareError(f"{where}: parameters of '{name}' hold a number too large to use: {err}") from None
        problem = schema_problem(params, "parameters")
        if problem:
            raise HareError(f"{where}: function '{name}': {problem}")
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


def nesting(value: Any) -> int:
    """How deep arrays and objects nest in `value` (a scalar: 0), counted without recursion, and only to one level
    past `MAX_JSON_DEPTH`: the value may nest deeper than Python can recurse."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= MAX_JSON_DEPTH:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((inner, depth + 1) for inner in (item.values() if isinstance(item, dict) else item))
    return deepest


def schema_problem(schema: Any, path: str, depth: int = 0) -> str | None:
    """Why a parameter schema cannot be served (naming the path), or None when it can."""
    if depth > MAX_DEPTH:
        return f"{path}: schemas nest deeper than {MAX_DEPTH} levels"
    if not isinstance(schema, dict):
        return f"{path}: a schema must be a JSON object, not {json.dumps(schema)[:40]}"
    unknown = sorted(set(schema) - KEYWORDS)
    if unknown:
        return f"{path}: unsupported keyword '{unknown[0]}' (supported: {', '.join(sorted(KEYWORDS))})"
    kind = schema.get("type")
    if kind is not None and (not isinstance(kind, str) or kind not in TYPES):
        return f"{path}.type: must be one of {', '.join(sorted(TYPES))} (a single type), not {json.dumps(kind)[:40]}"
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
        bound = schema.get(key, 0)
        # abs() before isfinite: an integer too large for a float (10**400 in JSON) must not reach float().
        if isinstance(bound, bool) or not isinstance(bound, int | float) or abs(bound) > LARGEST_BOUND \
                or not math.isfinite(bound):
            return f"{path}.{key}: must be a finite number within ±2**53"
    if "enum" in schema:
        members = schema["enum"]
        if not isinstance(members, list) or not 0 < len(members) <= MAX_ENUM or not all(
                isinstance(m, str | int | float) and (not isinstance(m, float) or math.isfinite(m)) for m in members):
            return f"{path}.enum: must list 1 to {MAX_ENUM} strings, numbers or booleans"
        wrong = next((m for m in members if kind in ENUM_MEMBERS and not ENUM_MEMBERS[kind](m)), None)
        if wrong is not None:  # every call would then be refused as invalid arguments
            return f"{path}.enum: {json.dumps(wrong)} is not of the schema's type '{kind}'; make them agree"
    if "format" in schema and (not isinstance(schema["format"], str) or schema["format"] not in FORMATS):
        return f"{path}.format: unsupported format {json.dumps(schema['format'])[:40]} (supported: email)"
    if "pattern" in schema:
        problem = pattern_problem(schema["pattern"])
        if problem:
            return f"{path}.pattern: {problem}"
    problem = bounds_problem(schema)
    if problem:
        return f"{path}{problem}"
    children = schema.get("properties", {})
    if not isinstance(children, dict):
        return f"{path}.properties: must be an object of schemas"
    subschemas = [(f"{path}.properties.{k}", v) for k, v in children.items()]
    subschemas += [(f"{path}.{k}", schema[k]) for k in ("items", "additionalProperties")
                   if k in schema and not isinstance(schema[k], bool)]
    found = next((p for where, sub in subschemas if (p := schema_problem(sub, where, depth + 1))), None)
    if found:
        return found
    problem = default_problem(schema)  # only now: checking it runs the patterns below, which must be safe first
    return f"{path}{problem}" if problem else None


def bounds_problem(schema: dict[str, Any]) -> str | None:
    """Why a schema's bounds leave no value at all (None: some value fits), as `: …` or `.keyword: …` to follow
    its path. Such a schema is a typo (minimum and maximum swapped), and nothing could ever call it: the
    grammar would have no value to write, and `hare tools data` none to generate."""
    if {"minimum", "exclusiveMinimum"} & set(schema) and {"maximum", "exclusiveMaximum"} & set(schema):
        low = max(schema.get("minimum", -math.inf), schema.get("exclusiveMinimum", -math.inf))
        high = min(schema.get("maximum", math.inf), schema.get("exclusiveMaximum", math.inf))
        shut = schema.get("exclusiveMinimum") == low or schema.get("exclusiveMaximum") == high  # at a tie: open
        if low > high or low == high and shut:
            return f": {bounds_text(schema)} leave no value; make the lower bound less than the upper one"
    if schema.get("type") == "integer" and not whole_numbers(schema):
        return (f": no integer satisfies {bounds_text(schema)}; widen the bounds, or make the type 'number'"
                if "multipleOf" not in schema else
                f": no integer satisfies {bounds_text(schema)}; widen the bounds or change multipleOf")
    for least, most, cap in (("minLength", "maxLength", VALUE_CHARS), ("minItems", "maxItems", None)):
        if schema.get(least, 0) > schema.get(most, math.inf):
            return f": {least} {schema[least]} > {most} {schema[most]} leaves no value; swap or widen them"
        if cap is not None and schema.get(least, 0) > cap:
            return (f".{least}: {schema[least]} is longer than any value a call can hold ({cap} characters); "
                    f"lower it to {cap} or less")
    return None


def bounds_text(schema: dict[str, Any]) -> str:
    """The numeric bounds a schema sets, as written: "minimum 5, maximum 3"."""
    keys = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf")
    return ", ".join(f"{k} {json.dumps(schema[k])}" for k in keys if k in schema)


def whole_numbers(schema: dict[str, Any], span: int = 100) -> range:
    """The integers a schema's bounds admit (fractional bounds rounded inwards, exclusive ones stepped past, an
    integer `multipleOf` as the step); a side left open is `span` steps from the other, or from 0. Used both to
    refuse an integer that has no value and to draw the values `hare tools data` generates."""
    multiple = schema.get("multipleOf", 1)
    step = int(multiple) if float(multiple).is_integer() else 1  # a fractional one: checked on every value drawn
    lows = [math.ceil(schema["minimum"])] if "minimum" in schema else []
    lows += [math.floor(schema["exclusiveMinimum"]) + 1] if "exclusiveMinimum" in schema else []
    highs = [math.floor(schema["maximum"])] if "maximum" in schema else []
    highs += [math.ceil(schema["exclusiveMaximum"]) - 1] if "exclusiveMaximum" in schema else []
    low = -(-max(lows) // step) * step if lows else None  # the first multiple of step at or above the bounds
    high = min(highs) // step * step if highs else None
    if low is None:
        low = 0 if high is None or high >= 0 else high - span * step
    if high is None:
        high = low + span * step
    return range(low, high + 1, step)


def default_problem(schema: dict[str, Any]) -> str | None:
    """Why a schema's `default` is not one of its own values (as `.default: …`), or None. A call that leaves the
    argument out gets the default, so an invalid one would make every such call fail the schema it came from."""
    if "default" not in schema:
        return None
    from jsonschema import Draft202012Validator

    error = next(iter(Draft202012Validator(schema, format_checker=formats()).iter_errors(schema["default"])), None)
    if error is None:
        return None
    where = "".join(f".{p}" for p in error.absolute_path)
    return (f".default: {json.dumps(schema['default'])[:40]}{where} is not a valid value of its own schema "
            f"({error.message[:120]}); change the default or drop it")


def pattern_problem(pattern: Any) -> str | None:
    """Why a string `pattern` is refused (None: it is in the subset that matches in linear-ish time)."""
    from re import _constants as c
    from re import _parser

    if not isinstance(pattern, str) or not 0 < len(pattern) <= MAX_PATTERN:
        return f"must be a regular expression of 1 to {MAX_PATTERN} characters"
    try:
        tree = _parser.parse("(?:" + pattern.removeprefix("^").removesuffix("$") + ")")
    except (re.error, RecursionError, OverflowError, ValueError) as err:
        return f"not a valid regular expression ({err})"
    if tree.getwidth()[1] > VALUE_CHARS:
        return (f"allows values longer than {VALUE_CHARS} characters; bound its repetitions "
                "({1,40} rather than + or *)")
    repeats = (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT)

    def walk(items: Any, repeated: bool) -> str | None:
        for op, arg in items:
            if op in (c.GROUPREF, c.GROUPREF_EXISTS, c.ASSERT, c.ASSERT_NOT):
                return "backreferences and lookarounds are not supported"
            if op in repeats:
                if repeated:
                    return "a repetition inside a repetition can take exponential time; flatten it"
                found = walk(arg[2], True)
            elif op is c.BRANCH:
                if repeated:
                    return "an alternation inside a repetition can take exponential time; use a character class"
                found = next((p for branch in arg[1] if (p := walk(branch, False))), None)
            elif op is c.SUBPATTERN:
                found = walk(arg[3], repeated)
            elif op is c.ATOMIC_GROUP:
                found = walk(arg, repeated)
            else:
                continue
            if found:
                return found
        return None

    return walk(tree, False)


def check_capacity(functions: list[Function], available: int) -> None:
    """One functional token per function: a spec larger than the tokenizer's set cannot be learned."""
    if len(functions) > available:
        fix = (f"use a model with at least {len(functions)} (hare init --functional-tokens {len(functions)}) or "
               "split the spec" if len(functions) <= MAX_FUNCTIONAL_TOKENS else
               f"split the spec: a model holds at most {MAX_FUNCTIONAL_TOKENS}")
        raise HareError(f"the spec has {len(functions)} functions but the tokenizer has {available} functional "
                        f"tokens (<api_0>…); {fix}")


def check_trained(given: list[Function], own: list[Function], spec: str | Path, model: str) -> None:
    """Refuse a --spec that is not the one saved with the model: `<api_i>` is the i-th function the model was
    trained on, so another list (reordered, a function added, changed or left out) would have its calls name the
    wrong function or fill arguments the schema does not ask for — without a word. Descriptions may differ."""
    for i, (g, o) in enumerate(zip(given, own, strict=False)):
        if g.name != o.name or g.call_shape() != o.call_shape():
            why = (f"function {i} is '{g.name}' there and '{o.name}' in the model's {SPEC_FILE}" if g.name != o.name
                   else f"the parameters of '{g.name}' differ from the ones the model was trained to fill")
            break
    else:
        if len(given) == len(own):
            return
        why = f"it has {len(given)} functions, the model's {SPEC_FILE} {len(own)}"
    raise HareError(f"--spec '{spec}' is not the API spec '{model}' was trained on ({why}); drop --spec to use the "
                    f"model's own, or train a model on this spec")


def save_spec(functions: list[Function], directory: Path) -> None:
    from hare.io.atomic import write_text

    write_text(directory / SPEC_FILE, json.dumps([f.to_openai() for f in functions], indent=1) + "\n")


@cache
def formats() -> FormatChecker:
    """The formats a call is checked for: e-mail, the one the grammar also writes (jsonschema checks
    none unless asked, and its own e-mail check is only "contains @")."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("email")(lambda value: not isinstance(value, str) or re.fullmatch(EMAIL, value) is not None)
    return checker
