"""The call format: writing calls as functional-token text, reading model output back, checking it.

    <api_7>(contact_name=' Ana', message=' on my way')<api_end>        one call
    <api_2>(location=' Oslo');<api_11>(level=3)<api_end>               two independent calls
    <api_end>                                                          no function serves the query

Function i is `<api_i>`; arguments are keyword Python literals in the schema's property order, and an
argument equal to its schema default is left out (the parser fills it back), which keeps the generation
short — except a choice among named values (`enum`), which is always written: a model learns a choice
from seeing every side of it, and with the default left out `camera=' front'` was the only camera it
ever wrote, so "take a snap on the back camera" became `camera=' front'` too. A string value is written
with one space after its opening quote (`location=' San Francisco'`): SentencePiece marks word starts,
so only then are the value's tokens the same as in the user's text (`▁San ▁Francisco`, not `San
▁Francisco`) and copying a value the model never saw is a token-for-token copy; the parser strips the
space. Times, dates and phone numbers are written as the user said them (`time=' 2:15 pm'`) and made
canonical when read (`hare.tools.surface`). The bare `<api_end>` is the explicit no-call answer: one
token, and as final as a call. Parsing goes through `ast` (literals
only) so model output is never executed; anything that does not parse or fails the JSON Schema
becomes a `CallError` with the raw text, never an exception: the parser is total over any string
(numbers beyond what JSON carries exactly, infinities and 400-digit integers included), because
it reads what a model wrote, which may be anything."""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import regex

from hare.model.tokenizer import API_END, functional_token
from hare.tools import readings, surface, together
from hare.tools.spec import Function, formats
from hare.tools.switches import switched

if TYPE_CHECKING:
    pass

Call = dict[str, Any]  # {"name": str, "arguments": {...}}, OpenAI's shape
_TOKEN = re.compile(r"<api_([0-9]{1,9})>")  # bounded: int() refuses 4,300-digit strings
# What `format: email` means here, for the grammar that writes values and the validator that reads them:
# the characters addresses use in practice — letters, digits and `._%+-` before the "@", a domain with a
# dot and a top-level name of letters — not RFC 5322 in full (quoted local parts, non-ASCII addresses),
# which a phone does not need: with any non-blank character allowed, a model wrote
# `our_name",recipient=name=…@contoso.com` and the grammar let it. Bounded (a local part has at most 64
# characters) so that the grammar can always finish a value.
# Integers beyond 2**53 lose digits as JSON numbers in most clients, so a call that carries one is refused.
LARGEST_NUMBER = 2**53


@dataclass
class CallError:
    """Why model output is not a valid call list; `raw` is the text it came from."""

    kind: str  # "syntax", "unknown_function", "invalid_arguments" or "too_long" (no end before the budget)
    message: str
    raw: str

    def to_json(self) -> dict[str, Any]:
        return {"error": {"type": self.kind, "message": self.message, "raw": self.raw}}


def render(calls: list[Call], functions: list[Function], query: str | None = None) -> str:
    """The training target for `calls` (complete, with defaults), ending with `<api_end>`; given the `query`,
    times, dates and phone numbers are written in the query's words (`hare.tools.surface`)."""
    by_name = {f.name: f for f in functions}
    parts = []
    for call in calls:
        fn = by_name[call["name"]]
        args = call.get("arguments", {})
        words = surface.said(fn.properties, args, query) if query is not None else args
        shown = [f"{k}={literal(words[k])}" for k in fn.properties
                 if k in args and (args[k] != fn.defaults.get(k, ...) or "enum" in fn.properties[k])]
        parts.append(f"{functional_token(fn.index)}({', '.join(shown)})")
    return ";".join(parts) + API_END


# An apostrophe between two word characters ("I'm", "O'Brien") is written as is inside a single-quoted value:
# users write them in messages and names all the time, a closing quote is never followed by a letter, and
# escaping it (or switching to double quotes, as Python's repr does) would make the model decide before the
# value's first word what its middle holds, and break the token-for-token copy of the query.
# One pattern in one engine for the writer, the parser and the grammar: `re`'s \w and the grammar's `regex`'s
# differ (marks such as "ָ" are word characters to `regex` only, "²" to `re` only), and "take a look'ָ" was an
# apostrophe to the grammar, which let the value go on, and a closing quote to the parser.
WORD_CHAR = r"[\p{L}\p{N}_]"
APOSTROPHE = regex.compile(rf"(?<={WORD_CHAR})'(?={WORD_CHAR})")


def literal(value: Any) -> str:
    """A value as the call format writes it (strings with their leading space)."""
    if isinstance(value, str):
        if "'" in value and not APOSTROPHE.sub("", value).count("'") and not re.search(r'[\\"\n]', value):
            return f"' {value}'"
        return repr(" " + value)
    return repr(value)


def parse(text: str, functions: list[Function], query: str | None = None) -> list[Call] | CallError:
    """Calls from model output (text up to or including `<api_end>`), validated and completed. Given the
    `query` they answer, each value is read against it: a value begun with the request's command misspelt
    begins after it (`readings.unslip`); times, dates and numbers copied short of its words are widened to them,
    and a value that ran on into a left-out argument's words hands them over (`readings.from_query`); the answer
    is squared with what the query says beside its values (`together.as_requested`: a language named fills a
    left-out one, an unsaid optional number or language keeps its default); a value that ran over a joiner into
    another call's words ends before it (`together.apart`), and one left at its default takes the words the request
    names it with ("… alarm called take meds": `together.named_as`), and calls of one function that took one choice
    take the ones the request names for them in turn ("ring volume to 0 and alarm volume to 8": `together.in_turn`);
    the message of a one-call answer runs on to the request's end (`readings.run_on`), its title over "and" before a
    name (`readings.run_into`), and its choices are the ones the request names (`readings.said_choice`); a value ends
    before the "?" of a request put as a question ("Can you let Noa know I'm on the train?": `readings.unasked`). A
    call repeated exactly is kept once, and one that only repeats a piece of another's words is dropped
    (`together.piece_of`), as is one that only repeats words another call took beside its own
    (`together.echo_of`), a second call of a function made of unsaid defaults (`together.idle_twin`) and one made
    only of defaults and words another call took (`together.spent`)."""
    raw = text
    text = text.split(API_END, 1)[0].strip()
    if not text:
        return []
    pieces = _TOKEN.split(text)
    if pieces[0].strip():
        return CallError("syntax", f"output does not start with a functional token: {pieces[0].strip()!r}", raw)
    read, by_index = [], {f.index: f for f in functions}
    for index, body in zip(pieces[1::2], pieces[2::2], strict=True):
        i = int(index)
        if i not in by_index:
            return CallError("unknown_function", f"<api_{i}> names no function of the spec "
                                                 f"({len(functions)} functions)", raw)
        body = APOSTROPHE.sub("\\\\'", body.strip().removesuffix(";").strip())  # ' I'm late' is read as ' I\\'m late'
        try:
            node = ast.parse(f"f{body}", mode="eval").body
            if not isinstance(node, ast.Call) or node.func.id != "f":  # type: ignore[attr-defined]
                raise ValueError("not a call")
            positional = [_strip(ast.literal_eval(a)) for a in node.args]
            named = {kw.arg: _strip(ast.literal_eval(kw.value)) for kw in node.keywords if kw.arg}
        except (SyntaxError, ValueError, TypeError, AttributeError, MemoryError, RecursionError):
            return CallError("syntax", f"arguments of <api_{i}> are not name=literal pairs: {body[:200]!r}", raw)
        fn = by_index[i]
        wild = next((v for v in [*positional, *named.values()] if not _representable(v)), None)
        if wild is not None:
            return CallError("invalid_arguments", f"{fn.name}: a number out of range ({str(wild)[:40]}); "
                                                  f"numbers must be finite and within ±2**53", raw)
        if len(positional) > len(fn.properties):
            return CallError("invalid_arguments", f"{fn.name} takes {len(fn.properties)} arguments, "
                                                  f"got {len(positional)} positional", raw)
        arguments = dict(zip(fn.properties, positional, strict=False)) | named
        if query is not None:
            arguments = readings.from_query(fn.properties, readings.unslip(fn.name, fn.properties, arguments), query)
            arguments = switched(fn.name, fn.properties, arguments, query)
        read.append((fn, arguments))
    settled = [a for _, a in read]
    if query is not None:
        settled = together.as_requested([(fn.properties, a) for fn, a in read], query)
        settled = together.apart([(fn.properties, a) for (fn, _), a in zip(read, settled, strict=True)], query)
        settled = together.named_as([(fn.properties, a) for (fn, _), a in zip(read, settled, strict=True)], query)
        settled = together.in_turn([(fn.properties, a) for (fn, _), a in zip(read, settled, strict=True)], query)
    if query is not None and len(read) == 1:
        only = read[0][0].properties
        ran = readings.run_on(only, readings.run_into(only, settled[0], query, pairs=True), query)
        settled = [readings.said_choice(only, ran, query)]
    if query is not None:
        settled = [readings.unasked(fn.properties, a, query) for (fn, _), a in zip(read, settled, strict=True)]
    spent = together.spent([(fn.properties, a) for (fn, _), a in zip(read, settled, strict=True)], query) \
        if query is not None else set()
    calls: list[Call] = []
    for (fn, _), arguments in [pair for i, pair in enumerate(zip(read, settled, strict=True)) if i not in spent]:
        checked = validate(fn, arguments)
        if isinstance(checked, str):
            return CallError("invalid_arguments", checked, raw)
        call = {"name": fn.name, "arguments": checked}
        if call not in calls:  # a call said twice word for word is a model that failed to stop, never a request:
            calls.append(call)  # done twice, "text Ana I'm late" arrives twice
    if query is not None:  # nor is a call made of a piece of another's words, or of words another took
        calls = [c for c in calls if not any(together.piece_of(c, other, query) for other in calls)]
        properties = {fn.name: fn.properties for fn, _ in read}
        calls = [c for c in calls if not together.echo_of(c, [o for o in calls if o is not c], properties[c["name"]],
                                                         query)]
        calls = [c for c in calls if not together.idle_twin(c, calls, properties[c["name"]], query)]
    return calls


# What joins a request to the next one, at a value's end: the value stopped there, the next request unanswered
# ("body see attached, and text Jo check your inbox" gave the body "see attached, and"). A bare "then" stays:
# "see you then".
_JOINT = re.compile(r"(?:,?\s+(?:and(?:\s+then|\s+also)?|&)|,\s*(?:then|also|plus))$", re.IGNORECASE)


# A dash set off by a space that ends a value parts it from the request's next words ("email … - subject Grazie -
# body Thanks for hosting us" gave the subject "Grazie -", hand-written, the quickstart model of 2026-12-05).
_DASH = re.compile(r"\s+[-\u2013\u2014]+$")


def _strip(value: Any) -> Any:
    """A string without the spaces around it, and without a comma, semicolon, colon or set-off dash, or an "and"
    (", and then", …), it ends in: that is the request's joint ("subject Re: weekend plans, and say …"), never a
    value's end."""
    if not isinstance(value, str):
        return value
    value = _DASH.sub("", value.strip()).rstrip(",;:").rstrip()
    return _JOINT.sub("", value).rstrip(",;:").rstrip()


def _representable(value: Any) -> bool:
    """Whether every number in a literal is one JSON carries exactly (and `float()` can convert)."""
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes):
        return True
    if isinstance(value, int):
        return abs(value) <= LARGEST_NUMBER
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= LARGEST_NUMBER
    if isinstance(value, complex):
        return False
    if isinstance(value, dict):
        return all(map(_representable, [*value.keys(), *value.values()]))
    if isinstance(value, list | tuple | set | frozenset):
        return all(map(_representable, value))
    return False


def validate(fn: Function, arguments: dict[str, Any]) -> dict[str, Any] | str:
    """Arguments with defaults filled and types coerced, or the first reason they fail the schema."""
    from jsonschema import Draft202012Validator

    unknown = [k for k in arguments if k not in fn.properties]
    if unknown:
        return f"{fn.name} has no argument {unknown[0]!r} (it takes: {', '.join(fn.properties) or 'none'})"
    arguments = surface.normalise_call(fn.properties, arguments)  # "2:15 pm" → "14:15"
    full = fn.defaults | {k: _coerce(v, fn.properties[k]) for k, v in arguments.items()}
    error = next(iter(Draft202012Validator(fn.parameters, format_checker=formats()).iter_errors(full)), None)
    if error is not None:
        where = ".".join(map(str, error.absolute_path)) or "arguments"
        return f"{fn.name}: {where}: {error.message}"
    return full


def _coerce(value: Any, schema: dict[str, Any]) -> Any:
    """The obvious conversions a small model gets wrong in form but right in meaning ('5' → 5)."""
    kind = schema.get("type")
    try:
        if kind == "integer" and not isinstance(value, bool) and float(value) == int(float(value)):
            return int(float(value))
        if kind == "number" and not isinstance(value, bool):
            return float(value)
    except (TypeError, ValueError, OverflowError):  # '1e400' as a string, 'inf', a 400-digit number
        return value
    if kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def normalize(calls: list[Call], functions: list[Function]) -> list[tuple[str, tuple[tuple[str, Any], ...]]]:
    """A comparable form: defaults filled, strings stripped and case-folded, numbers by value."""
    by_name = {f.name: f for f in functions}

    def norm(v: Any) -> Any:
        if isinstance(v, str):
            return " ".join(v.split()).casefold()
        if isinstance(v, bool):
            return v
        if isinstance(v, int | float):
            return float(v)
        if isinstance(v, list):
            return tuple(norm(x) for x in v)
        if isinstance(v, dict):
            return tuple(sorted((k, norm(x)) for k, x in v.items()))
        return v

    out = []
    for call in calls:
        fn = by_name.get(call["name"])
        args = (fn.defaults if fn else {}) | call.get("arguments", {})
        out.append((call["name"], tuple(sorted((k, norm(v)) for k, v in args.items()))))
    return sorted(out)
