"""Phrasing templates for tool queries: a phrase bank where one exists, generic phrasing otherwise.

A phrase bank (YAML, like the bundled `phrases/android_apis.yaml`) gives each function its slots and
its templates; `text || level=10` fixes argument values that the wording implies. Any other function
gets generic templates built from its name, description and schema, so `hare tools data` works for
every spec. Templates are the unit of the train/validation split: validation queries use wordings
that training never showed.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hare.config import shown
from hare.errors import HareError
from hare.io.read import read_yaml
from hare.tools.slots import GENERATED, Slot, infer_slot, parse_slot, values_bank
from hare.tools.spec import Function

PLACEHOLDER = re.compile(r"\{(\w+)\}")
GENERIC_FRAMES = [
    "{verb} {args}", "please {verb} {args}", "can you {verb} {args}?", "I want to {verb} {args}",
    "hey, {verb} {args}", "could you {verb} for me {args}", "I need you to {verb} {args}",
    "would you {verb} {args} please", "{verb} now {args}", "um, {verb} {args}", "go ahead and {verb} {args}",
    "quick one: {verb} {args}", "{desc} {args}", "help me {verb} {args}", "time to {verb} {args}",
    "let's {verb} {args}",
]
ARG_STYLES = ["with {words} {value}", "{words} {value}", "{words}: {value}", "using {value} as the {words}",
              "where the {words} is {value}", "and set {words} to {value}"]


@dataclass
class Template:
    id: str
    text: str                                    # {arg} placeholders; "{args}" for generic phrasing
    fixed: dict[str, Any] = field(default_factory=dict)


@dataclass
class Phrasing:
    """Everything needed to word requests for one function."""

    function: Function
    slots: dict[str, Slot]
    templates: list[Template]


def parse_template(fn: Function, k: int, line: str, slots: dict[str, Slot], where: str) -> Template:
    text, _, fixed_src = line.partition("||")
    fixed: dict[str, Any] = {}
    if fixed_src.strip():
        try:
            call = ast.parse(f"f({fixed_src})", mode="eval").body
            fixed = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}  # type: ignore[attr-defined]
        except (SyntaxError, ValueError):
            raise HareError(f"{where}: template {line!r}: write fixed arguments as `|| name=value, …`") from None
    text = text.strip()
    used = PLACEHOLDER.findall(text)
    for arg in [*used, *fixed]:
        if arg not in fn.properties or arg not in slots and arg in used:
            raise HareError(f"{where}: template {line!r} names '{arg}', which {fn.name} does not take")
    missing = [r for r in fn.required if r not in used and r not in fixed]
    if missing:
        raise HareError(f"{where}: template {line!r} leaves required {missing} of {fn.name} unset")
    return Template(f"{fn.name}:{k}", text, fixed)


def _kind(value: Any) -> str:
    return "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else \
        f"{type(value).__name__} {shown(value)}"


def check_bank_shape(bank: Any, where: str) -> dict[str, Any]:
    """The phrase bank read from YAML, refused naming the file and the key where its shape is wrong: each function
    a mapping of `slots` (argument → bank name, or value → list of surfaces) and `templates` (a list of strings).
    A list for the whole bank, or `templates: [5]`, was an AttributeError deep in the generator."""
    shape = "see hare/tools/phrases/android_apis.yaml for the format"
    if bank is None:
        return {}
    if not isinstance(bank, dict):
        raise HareError(f"{where}: a phrase bank is a mapping of function names to {{slots, templates}}, "
                        f"not {_kind(bank)}; {shape}")
    for name, entry in bank.items():
        if entry is None:
            continue  # an empty entry: the function gets generic phrasing
        if not isinstance(entry, dict):
            raise HareError(f"{where}: '{name}' must be a mapping with 'slots' and 'templates', not {_kind(entry)}; "
                            f"{shape}")
        for key in entry:
            if key not in ("slots", "templates"):
                raise HareError(f"{where}: unknown key '{name}.{key}'; a function has only 'slots' and 'templates'")
        slots = entry.get("slots") or {}
        if not isinstance(slots, dict):
            raise HareError(f"{where}: '{name}.slots' must be a mapping of argument to bank name or "
                            f"{{value: [surfaces]}}, not {_kind(slots)}; {shape}")
        for arg, slot in slots.items():
            if isinstance(slot, dict):
                for value, surfaces in slot.items():
                    _check_texts(surfaces, f"{name}.slots.{arg}.{value}", f"the ways to say {value!r}", where)
            elif not isinstance(slot, str):
                raise HareError(f"{where}: '{name}.slots.{arg}' must be a bank name or a mapping "
                                f"{{value: [surfaces]}}, not {_kind(slot)}; {shape}")
        templates = entry.get("templates")
        if templates is None:
            raise HareError(f"{where}: '{name}.templates' is missing; give {name} a list of wordings; {shape}")
        _check_texts(templates, f"{name}.templates", "wordings", where)
    return bank


def _check_texts(items: Any, key: str, what: str, where: str) -> None:
    """`items` (at `key` of the bank) must be a non-empty list of strings."""
    if not isinstance(items, list) or not items:
        raise HareError(f"{where}: '{key}' must be a non-empty list of {what}, not "
                        f"{_kind(items) if items else 'an empty one'}")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise HareError(f"{where}: '{key}[{i}]' must be a string, not {_kind(item)}; quote it")


def load_phrase_bank(path: Path | None, functions: list[Function]) -> dict[str, Phrasing]:
    """Phrasings from a phrase bank (the bundled one when `path` is None) for the functions it covers
    with exactly the spec's arguments; the others fall back to generic phrasing."""
    where = "bundled phrase bank" if path is None else str(path)
    file = path or Path(str(resources.files("hare.tools") / "phrases" / "android_apis.yaml"))
    bank = check_bank_shape(read_yaml(file, "phrase bank", "check --phrases"), where)
    out = {}
    for fn in functions:
        entry = bank.get(fn.name)
        given = (entry or {}).get("slots") or {}  # none at all: right for a function without arguments
        if not entry or set(given) != set(fn.properties):
            if path is not None and entry:
                raise HareError(f"{where}: slots of {fn.name} must be exactly its arguments {list(fn.properties)}")
            continue
        slots = {arg: parse_slot(s, fn.properties[arg]) for arg, s in given.items()}
        for arg, slot in slots.items():
            if slot.kind not in GENERATED and slot.kind != "map" and slot.kind not in values_bank():
                raise HareError(f"{where}: slot '{arg}' of {fn.name} uses unknown bank '{slot.kind}'")
        templates = [parse_template(fn, k, line, slots, where) for k, line in enumerate(entry["templates"])]
        out[fn.name] = Phrasing(fn, slots, templates)
    return out


def generic_phrasing(fn: Function) -> Phrasing:
    verb = fn.name.replace("_", " ").strip()
    desc = fn.description.strip().rstrip(".")
    frames = [f for f in GENERIC_FRAMES if desc or "{desc}" not in f]
    templates = [Template(f"{fn.name}:g{k}", f.replace("{verb}", verb).replace("{desc}", desc[:1].lower() + desc[1:]))
                 for k, f in enumerate(frames)]
    return Phrasing(fn, {a: infer_slot(a, s) for a, s in fn.properties.items()}, templates)


def arg_phrases(fn: Function, chosen: list[str], rng: random.Random) -> str:
    """Generic wording of the chosen arguments, one `{arg}` placeholder each."""
    parts = [rng.choice(ARG_STYLES).format(words=a.replace("_", " "), value="{" + a + "}") for a in chosen]
    return ", ".join(parts)
