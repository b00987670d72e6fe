"""Slot values for generated tool queries: each filler returns the call's value and how a user says it.

The value is what the function receives (`"19:30"`, `"+14155550132"`, `True`); the surface is what
appears in the query (`"7:30 pm"`, `"+1 (415) 555-0132"`, `"turn on"`). Most string values are copied
verbatim, so the model must learn to copy; times, dates, numbers written as words, languages and
formatted phone numbers must be transformed, which is where small models fail first.

Banks come from `phrases/values.yaml`; every bank is split once into train and validation values, so
validation queries also carry values the model never saw. A bank of fifty cities is small enough to
memorise, and a small model that memorises never learns to copy: it answers an unseen city with one
it knows. So a share of training values (`novel`) is made up — new combinations of the training
half's words and invented words — which no model can memorise, only copy.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Any

from hare.errors import HareError
from hare.tools.spec import VALUE_CHARS, bounds_text, whole_numbers
from hare.tools.surface import LANGUAGES

GENERATED = ("person", "email", "e164", "time", "datetime", "int", "language")
# Types no slot writes: a phrase bank maps values to words one by one, and a list or an object is no one word.
UNWRITTEN = ("array", "object", "null")
PROBES, MIN_FIT = 40, 0.5  # values drawn to test a slot against its schema; the share of them that must fit
FIX = "give the argument an enum of valid values, or a phrase bank slot (--phrases) whose values fit its schema"
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
# E.164 country code → digits after it, for plausible numbers.
_CONSONANTS, _VOWELS = "bdfghklmnprstvz", "aeiou"
_COUNTRIES = [("1", 10), ("44", 10), ("49", 10), ("33", 9), ("91", 10), ("61", 9), ("81", 10), ("34", 9)]
# Catalogues: banks of the real names a phone assistant is built to know. Their values are never made up (a
# service's name is what tells music from video, and an invented "Maeofan" leaves "play X on Y" nothing to go
# on), and both splits draw from all of them, as from an enum: held out, "Peacock" and "Tidal" were read as
# the wrong medium by a model that had never seen them, and people name these services, not new ones.
CATALOGUES = ("music_service", "video_service")
# People end what they write with punctuation, and a message's own "?" or "!" is part of it ("text Carlos: can
# you send me the address?"): a share of free-text values ends with one, so the model copies it, not cuts it.
SENTENCES = ("message", "email_content")
PUNCTUATED = 0.25
# Messages join thoughts ("grab milk, eggs and bread on the way home", "running late so start without me"),
# but the banks' are one clause each, and the parallel requests' connectors ("{a} and {b}") teach that " and "
# ends a value: a message then got cut at its first "and", "so" or "to". A share of them is two joined.
COMPOUND, JOINS = 0.3, [" and ", " so ", ", ", " but ", " because ", ", so ", " - ", " and then ", " or "]
# People write to others in the first person ("text Maria I'm late", "tell Sam I'll be there in 10"), but 2 % of
# training messages began with "I" (12 % of the bank, none of the made-up ones) and none followed a name directly:
# the model took "I" into the name ("Maria I", "Noa I", "Mohammed I'm"). So a share of messages is made first
# person.
FIRST_PERSON, OPENINGS = 0.15, ["I think ", "I said ", "I know ", "I hope ", "I guess ", "I'm sure ", "I just "]
# People type language names in lower case ("news on Real Madrid in spanish pls"): the hand-written requests did in
# 4 of the 13 that name one, and a model that had seen only "Spanish" left the language out of most of them.
LOWER_LANGUAGE = 0.3
_QUESTION_WORDS = {"can", "could", "are", "is", "do", "does", "did", "will", "would", "what", "when", "where", "who",
                   "how", "why", "should", "have", "any"}


@cache
def values_bank() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((resources.files("hare.tools") / "phrases" / "values.yaml").read_text())


def number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return str(n)


@dataclass
class Slot:
    """How one argument gets values: a bank name, a generator, or an explicit value → surfaces map."""

    kind: str                                   # bank name, one of GENERATED, or "map"
    surfaces: dict[Any, list[str]] | None = None  # for "map": enum/boolean value → ways to say it
    low: int = 0                                # "int": low, low + step, …, high
    high: int = 100
    step: int = 1


class Filler:
    """Draws (value, surface) pairs from the train or validation half of every bank."""

    def __init__(self, rng: random.Random, split: str, seed: int, val_fraction: float, novel: float = 0.0) -> None:
        self.rng, self.split, self.seed, self.val_fraction = rng, split, seed, val_fraction
        self.novel = novel if split == "train" else 0.0

    def pick(self, bank: str, novel: bool = True) -> str:
        value = self.rng.choice(self.half(bank))
        return self.made_up(value) if novel and self.rng.random() < self.novel else value

    def made_up(self, like: str) -> str:
        """A value nobody wrote, as long as `like` and cased like it: training-half words, invented ones and
        the numbers `like` has ("Galaxy Watch 6"). Sentences get a comma now and then: the banks' training
        halves have few, and a model that never saw one inside a value ends every message at the first
        comma ("The budget looks good to me, feel free…" → "The budget looks good to me")."""
        r = self.rng
        like_words = like.split()
        words = []
        n = max(1, len(like_words) + r.choice([-1, 0, 0, 1]))
        for i in range(n):
            if i < len(like_words) and like_words[i].isdigit():
                words.append(str(r.randint(1, 10 ** len(like_words[i]) - 1)))
            elif r.random() < 0.5:
                words.append(r.choice(self.words))
            else:
                words.append(self._invented_word())
            if i < min(n, len(like_words)) - 1 and like_words[i].endswith(","):  # "Austin, Texas": place, region
                words[-1] += ","
        capitals = [w[:1].isupper() for w in like_words if not w.isdigit()] or [False]
        if all(capitals):  # names and titles
            words = [w[:1].upper() + w[1:] for w in words]
        else:
            if capitals[0]:  # a sentence
                words[0] = words[0][:1].upper() + words[0][1:]
            if len(words) > 2 and r.random() < 0.35:
                at = r.randrange(1, len(words) - 1)
                words[at] = words[at].rstrip(",") + ","
        return " ".join(words)

    def _invented_word(self) -> str:
        """Syllables of the shapes names take — "Noa", "Joao", "Bizen" — so that a made-up value ends on a
        vowel pair as often as real names do, and the model learns to copy to the end of the word."""
        r = self.rng
        syllables = []
        for _ in range(r.randint(1, 3)):
            onset = r.choice(_CONSONANTS) if r.random() < 0.85 else ""
            syllables.append(onset + r.choice(_VOWELS) + (r.choice(_VOWELS) if r.random() < 0.2 else ""))
        return "".join(syllables) + r.choice(["", "", "n", "r", "s", "k"])

    @cached_property
    def words(self) -> list[str]:
        banks = [b for b, v in values_bank().items() if isinstance(v, list)]
        return sorted({w for b in banks for v in self.half(b) for w in v.split() if w.isalpha()})

    def half(self, bank: str) -> list[str]:
        """A fixed, seed-dependent split of the bank; tiny banks and catalogues give both splits all their values."""
        items: Any = values_bank()
        for part in bank.split("."):  # "irrelevant.chitchat" is a category of the irrelevant bank
            items = items[part]
        items = list(items)
        if len(items) < 8 or bank in CATALOGUES:
            return items
        order = random.Random(f"{self.seed}:{bank}").sample(items, len(items))
        cut = max(1, round(len(items) * self.val_fraction))
        return order[:cut] if self.split == "val" else order[cut:]

    def fill(self, slot: Slot, chosen: dict[str, Any]) -> tuple[Any, str]:
        r = self.rng
        if slot.kind == "map":
            assert slot.surfaces
            value = r.choice(list(slot.surfaces))
            return value, r.choice(slot.surfaces[value])
        if slot.kind in values_bank():
            v = self.pick(slot.kind, novel=slot.kind not in CATALOGUES)
            if slot.kind in SENTENCES:
                v = self._sentence(v, slot.kind)
            return v, v
        return getattr(self, "_" + slot.kind)(slot, chosen)

    def _sentence(self, v: str, bank: str) -> str:
        """A message as people write one: sometimes two joined, sometimes in the first person, sometimes ending
        in its own "?", "!" or "."."""
        r = self.rng
        if r.random() < COMPOUND:
            more = self.pick(bank)
            joined = v + r.choice(JOINS) + (more if more.startswith(("I ", "I'")) else more[:1].lower() + more[1:])
            v = joined if len(joined) < VALUE_CHARS else v  # the grammar's longest string: never a target past it
        if bank == "message" and not v.startswith("I") and r.random() < FIRST_PERSON:
            first = r.choice(OPENINGS) + v[:1].lower() + v[1:]
            v = first if len(first) < VALUE_CHARS else v
        if v[-1:].isalnum() and r.random() < PUNCTUATED:
            v += "?" if v.split()[0].lower() in _QUESTION_WORDS else r.choice(".!")
        return v

    def _person(self, slot: Slot, chosen: dict[str, Any]) -> tuple[str, str]:
        name = self.pick("first_name")
        if self.rng.random() < 0.4:
            name += " " + self.pick("last_name")
        return name, name

    def _email(self, slot: Slot, chosen: dict[str, Any]) -> tuple[str, str]:
        first, last = self.pick("first_name").lower(), self.pick("last_name").lower()
        local = self.rng.choice([f"{first}.{last}", f"{first}{last}", f"{first}_{last}", f"{first[0]}{last}",
                                 f"{first}{self.rng.randint(1, 99)}"])
        local = re.sub(r"[^a-z0-9._]", "", local)  # "o'brien", a made-up name's comma: not address characters
        address = f"{local}@{self.pick('email_domain', novel=False)}"
        return address, address

    def _e164(self, slot: Slot, chosen: dict[str, Any]) -> tuple[str, str]:
        code, n = self.rng.choice(_COUNTRIES)
        digits = str(self.rng.randint(2, 9)) + "".join(str(self.rng.randint(0, 9)) for _ in range(n - 1))
        value = f"+{code}{digits}"
        a, b, c = digits[:3], digits[3:6], digits[6:]
        cut = self.rng.randint(2, 5)  # numbers are grouped differently from country to country
        return value, self.rng.choice([value, value, f"+{code} {a} {b} {c}", f"+{code} ({a}) {b}-{c}",
                                       f"+{code}-{a}-{b}-{c}", f"+{code} {digits[:cut]} {digits[cut:]}",
                                       f"00{code} {digits[:cut]} {digits[cut:]}", f"plus {code} {a} {b} {c}",
                                       self._spoken(code, [a, b, c])])

    def _spoken(self, code: str, groups: list[str]) -> str:
        """A number as a voice assistant hears it, digit by digit, sometimes a pause (comma) between groups."""
        pause = self.rng.choice([" ", ", "])
        return "plus " + pause.join(" ".join(_ONES[int(d)] for d in part) for part in [code, *groups])

    def _time(self, slot: Slot, chosen: dict[str, Any]) -> tuple[str, str]:
        hour, minute = self.rng.randint(0, 23), self.rng.choice(range(0, 60, 5))
        return f"{hour:02d}:{minute:02d}", self._clock(hour, minute)

    def _clock(self, hour: int, minute: int) -> str:
        twelve, half = (hour % 12 or 12), ("am" if hour < 12 else "pm")
        if self.rng.random() < 0.2:
            half = half.upper()
        forms = [f"{hour:02d}:{minute:02d}", f"{twelve}:{minute:02d} {half}", f"{twelve}:{minute:02d}{half}"]
        if minute == 0:
            forms += [f"{twelve} {half}", f"{twelve}{half}"] + {12: ["noon"], 0: ["midnight"]}.get(hour, [])
        return self.rng.choice(forms)

    def _datetime(self, slot: Slot, chosen: dict[str, Any]) -> tuple[str, str]:
        start = next((v for v in chosen.values() if isinstance(v, str) and v.count("-") == 4), None)
        if start is not None:  # an end time: the same day as the start, 30 minutes to 3 hours later
            y, mo, d, h, mi = map(int, start.split("-"))
            end = min(h * 60 + mi + self.rng.choice([30, 45, 60, 90, 120, 180]), 23 * 60 + 45)
            h, mi = divmod(end, 60)
            return f"{y:04d}-{mo:02d}-{d:02d}-{h:02d}-{mi:02d}", self._clock(h, mi)
        y, mo, d = self.rng.randint(2024, 2027), self.rng.randint(1, 12), self.rng.randint(1, 28)
        h, mi = self.rng.randint(7, 20), self.rng.choice([0, 15, 30, 45])
        month, nth = MONTHS[mo - 1], f"{d}{_ordinal(d)}"
        figures = f"{d:02d}/{mo:02d}/{y}" if d > 12 else f"{mo:02d}/{d:02d}/{y}"  # day first (Europe) past 12
        day = self.rng.choice([f"{month} {d}, {y}", f"{d} {month} {y}", f"{y}-{mo:02d}-{d:02d}", f"{month[:3]} {d} {y}",
                               f"{month} {nth} {y}", f"the {nth} of {month} {y}", f"{mo}/{d}/{y}", figures])
        join = self.rng.choice([" at ", " at ", ", ", " "])
        return f"{y:04d}-{mo:02d}-{d:02d}-{h:02d}-{mi:02d}", f"{day}{join}{self._clock(h, mi)}"

    def _int(self, slot: Slot, chosen: dict[str, Any]) -> tuple[int, str]:
        n = slot.low + slot.step * self.rng.randint(0, (slot.high - slot.low) // slot.step)
        return n, number_words(n) if n < 100 and self.rng.random() < 0.3 else str(n)

    def _language(self, slot: Slot, chosen: dict[str, Any]) -> tuple[str, str]:
        code = self.rng.choice(list(LANGUAGES))
        name = LANGUAGES[code][0]
        return code, name.lower() if self.rng.random() < LOWER_LANGUAGE else name


def _ordinal(d: int) -> str:
    return "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")


def infer_slot(name: str, schema: dict[str, Any]) -> Slot:
    """A slot for an argument of a spec without a phrase bank, from its type, format and name; refused (naming
    the argument and the fix) when its values seldom or never fit the schema (`slot_problem`), so that no data is
    written that the spec it was made for would reject."""
    slot = _guess_slot(name, schema)
    check_slot(name, slot, schema)
    return slot


def _guess_slot(name: str, schema: dict[str, Any]) -> Slot:
    kind, words = schema.get("type"), f"{name} {schema.get('description', '')}".lower()
    if "enum" in schema:
        return Slot("map", {v: [str(v).replace("_", " ")] for v in schema["enum"]})
    if kind == "boolean":
        return Slot("map", {True: ["on", "true", "yes"], False: ["off", "false", "no"]})
    if kind in ("integer", "number"):
        return int_slot(schema)
    rules = [("email", "email"), ("phone", "e164"), ("language", "language"), ("city", "city"),
             ("location", "city"), ("address", "place"), ("origin", "place"), ("destination", "place"),
             ("device", "device_name"), ("song", "song"), ("music", "song"), ("video", "video_name"),
             ("service", "music_service"), ("label", "alarm_label"), ("title", "event_title"),
             ("subject", "email_title"), ("message", "message"), ("content", "email_content"),
             ("text", "message"), ("name", "person"), ("query", "video_query"), ("topic", "news_topic")]
    if schema.get("format") == "email":
        return Slot("email")
    if "time" in words and ":" in schema.get("pattern", ""):
        return Slot("time")
    return Slot(next((bank for key, bank in rules if key in name.lower()), "news_topic"))


def parse_slot(spec: Any, schema: dict[str, Any]) -> Slot:
    """A phrase bank's slot entry: a bank/generator name, or a value → surfaces mapping."""
    if isinstance(spec, dict):
        return Slot("map", {k: list(v) for k, v in spec.items()})
    return int_slot(schema) if spec == "int" else Slot(str(spec))


def int_slot(schema: dict[str, Any]) -> Slot:
    """Integers within the schema's bounds as JSON Schema reads them (3.5 < n < 7 is 4 to 6); none when
    high < low, which `check_slot` refuses before anything is drawn."""
    numbers = whole_numbers(schema)
    return Slot("int", low=numbers.start, high=numbers.start + (len(numbers) - 1) * numbers.step, step=numbers.step)


def check_slot(name: str, slot: Slot, schema: dict[str, Any]) -> None:
    """Refuse argument `name` when `slot` can never give a value its schema accepts (`slot_problem`)."""
    problem = slot_problem(slot, schema)
    if problem:
        fix = "" if schema.get("type") in UNWRITTEN else f"; {FIX}"  # those name their own
        raise HareError(f"argument '{name}': {problem}{fix}")


def slot_problem(slot: Slot, schema: dict[str, Any]) -> str | None:
    """Why `slot` cannot give values valid for `schema`, or None when most of its values are. It is probed by
    drawing values as the training split does, made-up ones included: a bank that seldom fits (a news topic for
    a three-capital `pattern`) would not fail loudly, as each drawn call is checked and drawn again when it fails
    (`hare.tools.data`), but an optional argument would then almost never be said."""
    from jsonschema import Draft202012Validator

    kind = schema.get("type")
    if kind in UNWRITTEN:
        return (f"hare tools data writes no values of type '{kind}'; make the argument a string, integer, number "
                "or boolean, or write its training calls yourself")
    if slot.kind == "int" and slot.low > slot.high:
        return f"no integer satisfies {bounds_text(schema)}"
    filler = Filler(random.Random(f"probe:{slot.kind}"), "train", 0, 0.25, novel=0.5)
    drawn = [filler.fill(slot, {})[0] for _ in range(PROBES)]
    validator = Draft202012Validator(schema)  # formats too are checked on every call drawn
    failed = [v for v in drawn if not validator.is_valid(v)]
    if len(failed) <= (1 - MIN_FIT) * PROBES:
        return None
    error = next(iter(validator.iter_errors(failed[0])))
    return (f"only {PROBES - len(failed)} of {PROBES} values drawn for it ({slot.kind}) fit its schema "
            f"(e.g. {error.message[:100]})")
