"""Slips of the fingers in a request, read as the words the tool model was trained on.

A small tool model that meets a word it never saw — "tehrmostat", "cnotact", "heaadlines", "now mue media" —
reads it as a value or as nothing: 8 of the 15 function errors of the quickstart's model (152 steps, seed 0)
on its 400 held-out requests were requests with such a slip, and training on more slips made it worse (25 %
of the requests instead of 10 %: function 96.25 → 94.5 %). A phone keyboard autocorrects; so does the caller.
It reads a word as one the model was taught when
- it is one slip of a finger away from it (a letter dropped or added, two swapped, or a key beside the right one
  hit: "nees" for "news", but not "fave" for "five"; same first letter; not an inflection: "alarms" for "alarm"),
- the training requests said that word at least `RATIO` times as often as the typed one and at least `LEAST`
  times (`tool_words.json` beside the model: every word of the training requests, counted),
- the model's tokenizer has no token for the typed word whole, in lower case or capitalised (it has for "tall",
  and " Thai" for "pad thai": a word the base knows is a word someone meant),
- it has three letters or more, and it is a word of its own — not part of an address, a number or a handle —
  and not capitalised inside a sentence (a name: "Tane Williams") nor in capitals (an acronym).
A word spelt as it sounds is read the same way: "nite" is "night", "selfy" "selfie" (`SOUNDS`) — but one that
both sounds like a trained word and slips on another is read as typed: "foto" was read as "foot", a swap away,
and the model made no call (with the word as typed, the same model took the photo); "fone" may be "phone" or
"fine".
Values the model copies get the user's spelling back ("text Bob I'm runnig late" keeps "runnig"; `restore`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.errors import HareError
from hare.tools.spec import is_free_text

if TYPE_CHECKING:
    from collections.abc import Iterable

    from transformers import PreTrainedTokenizerBase

    from hare.tools.spec import Function

WORDS_FILE = "tool_words.json"  # beside a tool model: its training requests' words, counted
RATIO = 20
LEAST = 10
SHORTEST = 3  # letters of a typed word that may be read as another
_WORD = re.compile(r"[A-Za-z]+")
# A word standing alone between spaces, with quotes or brackets before it and punctuation after it at most.
_ALONE = re.compile(r"(?<!\S)([\"'(]*)([A-Za-z]+)(?=[.,!?:;\"')]*(?!\S))")
_SENTENCE_STARTS = ".!?:;,"
# Spellings by sound, as typed → as trained, each read at one place in a word: "ph" said "f", "ight" said "ite", a
# last "ie" said "y".
SOUNDS = ((re.compile("f"), "ph"), (re.compile("ite"), "ight"), (re.compile("y$"), "ie"))
KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")  # each row half a key right of the one above
_KEY = {key: (row, col) for row, keys in enumerate(KEYBOARD) for col, key in enumerate(keys)}


def slip_of(word: str, meant: str) -> bool:
    """Whether `word` is `meant` or one slip away from it: a letter changed, dropped or added, or two swapped."""
    if word == meant:
        return True
    if abs(len(word) - len(meant)) > 1:
        return False
    if len(word) == len(meant):
        diff = [i for i, (a, b) in enumerate(zip(word, meant, strict=True)) if a != b]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and word[diff[0]] == meant[diff[1]]
                                  and word[diff[1]] == meant[diff[0]])
    short, long = sorted((word, meant), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def _near(a: str, b: str) -> bool:
    """Whether keys `a` and `b` touch on a QWERTY keyboard (beside each other, or above or below)."""
    if a not in _KEY or b not in _KEY:
        return False
    (ra, ca), (rb, cb) = _KEY[a], _KEY[b]
    return (ra == rb and abs(ca - cb) == 1) or (rb == ra + 1 and cb in (ca - 1, ca)) \
        or (rb == ra - 1 and cb in (ca, ca + 1))


def fingers_slip(word: str, meant: str) -> bool:
    """Whether typing `meant` could give `word` by one slip of a finger: a letter dropped or added, two swapped,
    or a key that touches the right one hit instead ("nees" for "news"; "fave" is no slip on "five", nor "nite"
    on "nine": those keys are far apart, and the words are other words)."""
    if word == meant or not slip_of(word, meant):
        return False
    if len(word) != len(meant):
        return True
    diff = [i for i, (a, b) in enumerate(zip(word, meant, strict=True)) if a != b]
    return len(diff) == 2 or _near(word[diff[0]], meant[diff[0]])


def sounded(word: str) -> list[str]:
    """The spellings `word` (lower case) may be of by sound (`SOUNDS`): "foto" → "photo"."""
    return [word[:m.start()] + meant + word[m.end():] for typed, meant in SOUNDS for m in typed.finditer(word)]


def count_words(queries: Iterable[str]) -> dict[str, int]:
    """Every word of the requests (letters only, lower case), counted; most said first."""
    return dict(Counter(w.lower() for q in queries for w in _WORD.findall(q)).most_common())


def save_words(counts: dict[str, int], out_dir: Path) -> None:
    from hare.io.atomic import write_text

    write_text(out_dir / WORDS_FILE, json.dumps(counts, ensure_ascii=False))


def load_words(model_dir: Path) -> dict[str, int] | None:
    """The word counts saved beside a tool model; None for a model trained before they were."""
    from hare.io.read import read_json

    path = model_dir / WORDS_FILE
    if not path.is_file():
        return None
    fix = f"train the tool model again, or delete {path} (requests are then read as typed)"
    counts = read_json(path, WORDS_FILE, fix)
    if not isinstance(counts, dict) or not all(isinstance(w, str) and type(c) is int for w, c in counts.items()):
        raise HareError(f"{path} is not a JSON object of words and their counts; {fix}")
    return counts


class Spelling:
    """Reads a request's slips as the trained words they miss (`fix`; `restore` gives values back as typed);
    see the module docstring."""

    def __init__(self, counts: dict[str, int], tok: PreTrainedTokenizerBase) -> None:
        self.counts = counts
        self.tok = tok
        self.targets: dict[str, list[tuple[int, str]]] = {}  # first letter → (count, word), most said first
        for word, count in counts.items():
            if count >= LEAST and len(word) > SHORTEST:
                self.targets.setdefault(word[0], []).append((count, word))
        for targets in self.targets.values():
            targets.sort(key=lambda t: (-t[0], t[1]))
        self.meant = lru_cache(maxsize=4096)(self._meant)

    def _whole(self, word: str) -> bool:
        """Whether the tokenizer has one token for `word` after a space, in lower case or capitalised (a word the
        base model knows: "tall", "thai" as in "Thai")."""
        one = len(self.tok.tokenize("a")) + 1
        return any(len(self.tok.tokenize("a " + w)) == one for w in (word, word.capitalize()))

    def _meant(self, word: str) -> str | None:
        """The trained word a lower-case `word` is read as: one it sounds like, or one it slips on; None where
        both or neither fit ("fone" may be "phone" or "fine": the model reads it as typed) or where the base
        knows the word."""
        said = self.counts.get(word, 0)
        heard = {w for w in sounded(word) if self.counts.get(w, 0) >= max(LEAST, RATIO * said)}
        slipped = self._slipped(word, said)
        meant = {*heard, *([slipped] if slipped else [])}
        return meant.pop() if len(meant) == 1 and not self._whole(word) else None

    def _slipped(self, word: str, said: int) -> str | None:
        """The trained word `word` is one slip of the fingers on, if any (see the module docstring)."""
        for count, meant in self.targets.get(word[0], []):
            if count < RATIO * said:  # targets are most said first, each at least LEAST times
                return None
            if word not in (meant + "s", meant + "d", meant[:-1]) and fingers_slip(word, meant):
                return meant
        return None

    def fix(self, query: str) -> tuple[str, dict[str, str]]:
        """The request with its slips read as meant, and {word typed: word read}."""
        read: dict[str, str] = {}

        def one(m: re.Match[str]) -> str:
            typed = m.group(2)
            before = query[:m.start()].rstrip()
            if len(typed) < SHORTEST or typed.isupper() or typed[0].isupper() and before \
                    and before[-1] not in _SENTENCE_STARTS:  # an acronym, or a name inside a sentence
                return m.group()
            meant = self.meant(typed.lower())
            if meant is None:
                return m.group()
            read[typed] = meant[0].upper() + meant[1:] if typed[0].isupper() else meant
            return m.group(1) + read[typed]

        return _ALONE.sub(one, query), read


def restore(calls: Any, read: dict[str, str], query: str, functions: list[Function]) -> Any:
    """`calls` (a list of calls, or an error) with every word `read` otherwise in the typed `query` given back as
    typed in their free-text values (an enum's or a default's word is the spec's, not a copy: "set an alrm for
    7" keeps the label "alarm") — but not a word the query also says as it is, or read from two spellings:
    which one a value copied is unknown, and the request's own word is the likelier."""
    typed: dict[str, list[str]] = {}
    for word, meant in read.items():
        typed.setdefault(meant, []).append(word)
    said = set(_WORD.findall(query))
    back = {meant: words[0] for meant, words in typed.items() if len(words) == 1 and meant not in said}
    if not back or not isinstance(calls, list):
        return calls
    spelt = re.compile(r"\b(" + "|".join(map(re.escape, back)) + r")\b")
    properties = {f.name: f.properties for f in functions}

    def value(schema: Any, v: Any) -> Any:
        copied = isinstance(v, str) and isinstance(schema, dict) and is_free_text(schema) and v != schema.get("default")
        return spelt.sub(lambda m: back[m.group()], v) if copied else v

    return [{**call, "arguments": {k: value(properties.get(call["name"], {}).get(k), v)
                                   for k, v in call["arguments"].items()}} for call in calls]
