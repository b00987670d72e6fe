"""Shared pieces of the synthetic-data strategies: the facts table, names and objects, and the context.

Every strategy is a function `generate(rng, ctx) -> dict` returning at least `text` and `template`
(the id of the template used, for coverage statistics) and any structured fields that let a test
recompute the answer. All randomness comes from `rng`, so a document depends only on (seed, index).
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Wide enough that two documents of one template rarely draw the same people and things: a name is
# often the only slot a short problem has besides its numbers.
NAMES = (
    "Amara", "Bruno", "Chen", "Dalia", "Emeka", "Freya", "Gustavo", "Hana", "Ivan", "Jasmin", "Kofi", "Lena",
    "Mateo", "Nadia", "Olu", "Priya", "Quentin", "Rosa", "Sami", "Tomas", "Uma", "Viktor", "Wen", "Yusuf", "Zara",
    "Aiko", "Bilal", "Carmen", "Dev", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kaveh", "Leila", "Marek",
    "Nia", "Oscar", "Pablo", "Rania", "Soren", "Talia", "Umar", "Vera", "Wanjiru", "Ximena", "Yara", "Zeno",
    "Anton", "Beatriz", "Cyrus", "Daria", "Esther", "Felix", "Gita", "Hamid", "Isla", "Joon", "Kira", "Luca",
    "Maya", "Nikolai", "Orla", "Pedro", "Rohan", "Sofia", "Tariq", "Ulla", "Valentin", "Willa", "Yosef", "Zuri",
    "Adele", "Bao", "Chiara", "Dmitri", "Eshan", "Fatima", "Gideon", "Helga", "Ilya", "Juno", "Kemal", "Lucia",
    "Milo", "Noor", "Omar", "Paulina", "Reza", "Saoirse", "Thabo", "Vikram", "Yuki", "Zaid", "Agnes", "Boris",
)
ITEMS = (
    ("apple", "apples"), ("notebook", "notebooks"), ("pencil", "pencils"), ("marble", "marbles"),
    ("cookie", "cookies"), ("sticker", "stickers"), ("ticket", "tickets"), ("flower", "flowers"),
    ("stamp", "stamps"), ("orange", "oranges"), ("battery", "batteries"), ("candle", "candles"),
    ("muffin", "muffins"), ("eraser", "erasers"), ("postcard", "postcards"), ("seashell", "seashells"),
    ("button", "buttons"), ("lemon", "lemons"), ("comic", "comics"), ("bead", "beads"), ("egg", "eggs"),
    ("balloon", "balloons"), ("crayon", "crayons"), ("peach", "peaches"), ("brush", "brushes"), ("key", "keys"),
    ("plum", "plums"), ("badge", "badges"), ("jar", "jars"), ("puzzle", "puzzles"),
)


@dataclass(frozen=True)
class Context:
    """What strategies may read besides their RNG: the facts and the teacher endpoint settings."""

    teacher_url: str | None = None
    teacher_model: str = "teacher"
    teacher_api_key: str | None = None

    @property
    def facts(self) -> dict[str, list[dict[str, Any]]]:
        return load_facts()


@functools.lru_cache(maxsize=1)
def load_facts() -> dict[str, list[dict[str, Any]]]:
    """The structured facts shipped as `facts.json` next to this module."""
    return json.loads((Path(__file__).with_name("facts.json")).read_text(encoding="utf-8"))


def pick(rng: random.Random, options: tuple[T, ...] | list[T]) -> T:
    return options[rng.randrange(len(options))]


def names(rng: random.Random, k: int) -> list[str]:
    return rng.sample(NAMES, k)


def fmt(x: float) -> str:
    """A number as text: integers without decimals, others to at most 2 decimals."""
    r = round(x, 2)
    return str(int(r)) if r == int(r) else f"{r:.2f}".rstrip("0").rstrip(".")
