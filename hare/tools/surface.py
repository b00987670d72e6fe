"""Values as the user said them: times, dates, phone numbers and languages are copied, then normalised here.

A function wants `"14:15"`, `"2025-06-03-13-00"` or `"+14155550132"`; the user says "2:15 pm",
"June 3, 2025 at 1 pm" or "+1 (415) 555-0132". Asking a small model to convert is where it fails
most (the default quickstart's tool model got a third of its exact-call errors on 24-hour clocks,
dates and phone digits); copying a span of the query is what a pretrained model does well. So for
an argument whose schema is one of these kinds, the call format lets the model write the words the
user used (`time=' 2:15 pm'`), and the parser turns them into the canonical value before the schema
is checked: a deterministic step that is tested, instead of a learned one that is not.

A kind is recognised from the schema alone: a string whose `pattern` accepts the kind's canonical
examples (or whose `format` is the JSON Schema name of it), so any spec with a 24-hour time, a date,
a date-time or an E.164 number gets it, and the output keeps the spec's own layout (`2025-06-03-13-00`,
`2025-06-03T13:00`, …). A language is an ISO 639-1 code to the function and a name to the user ("news
in French": `language=' French'` → `fr`; the quickstart's model wrote `pl` and `fa` for French when it
had to recall codes): a string whose pattern accepts the codes of `LANGUAGES` and whose description
says "language" or "639" (a two-letter pattern alone could be a country).
The grammar (`surface_pattern`) admits exactly the forms `read` reads — the
canonical form among them — so every constrained answer normalises (but for impossible days such as
February 30, which validation refuses with the user's own words in the message).

Rules where the words leave something open, as a phone's assistant reads them:
- a clock without am/pm is read as a 24-hour time ("7:30" is 07:30, "19:30" is 19:30), but in a range
  the other end settles it: "2 to 5 pm" is 14:00 to 17:00 (a bare hour of 1 to 11 takes the end's pm where
  that keeps it before the end), "9 am to 5" ends at 17:00 (an end is never before its start);
- a date in figures is day first when its first number is over 12 (25/02/2026), else month first as in the
  US (02/25/2026, 03/04/2026 is March 4);
- a date-time without a date takes the date of the call's previous date-time argument ("from June 3
  at 1 pm to 3 pm"), else today; "today", "tonight", "tomorrow" count from today's date, and a weekday
  ("Friday", "next Friday") is the next such day after today;
- an end equal to its start where the request says how long ("at 12:30 for an hour") is the start plus that;
- a date without a year is the next such day from today (this year's, or next year's once past);
- a phone number keeps its leading "+" (or "00", "plus ") and its digits; one said without a country code in
  North America's ten-digit shape ("415 555 0132", "(415) 555-0132", "1-415-555-0132") is read as +1, the
  calling code of the region the bundled spec's phone lives in (`HOME_CODE`): people say their own region's
  numbers that way ("call 202 555 0164" had no number the grammar could see, so no calling function was
  offered, and the model answered set_volume); any other number without one ("555 0132", "020 7946 0958") is
  not a surface: the model must then write the canonical value itself.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hare.tools.asides import AFTER, JOINING_WORDS, SUFFIXES, TAIL_WORDS, set_off
from hare.tools.spec import VALUE_CHARS, is_free_text
from hare.tools.spelling import slip_of

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
_HOURS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
_UNITS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
          "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
_LONG = {"sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}  # a duration's tens, never a clock's minutes
_WORTH = {word: i for i, word in enumerate(_UNITS, 1)} | _TEENS | _TENS | _LONG


def _words(values: list[str]) -> str:
    return "|".join(sorted(values, key=len, reverse=True))  # longest first: "eleven" before "one"


_MONTH = "(?:" + _words(MONTHS + [m[:3] for m in MONTHS] + ["sept"]) + r")\.?"
_HOUR = rf"(?:2[0-3]|[01]?[0-9]|{_words(_HOURS)})"  # "20" before "2"
_MINUTE_WORD = (rf"(?:oh[ -](?:{_words(_UNITS)})|{_words(list(_TEENS))}|"
                rf"(?:{_words(list(_TENS))})(?:[ -](?:{_words(_UNITS)}))?)")
_HALF = r"(?:am|pm|a\.m\.|p\.m\.)"
_DAYPART = r"(?:(?:in the |this |tomorrow )?(?:morning|afternoon|evening)|at night|tonight)"
_MINUTES = rf"(?:half|quarter|[1-5]?[0-9] minutes?|{_MINUTE_WORD}(?: minutes?)?)"
# Named groups for reading; the grammar uses the same text with the names taken out.
_HOUR12 = rf"(?:1[0-2]|0?[1-9]|{_words(_HOURS)})"  # with am/pm: "20 pm" is no clock
_AFTER = rf"(?:[:.](?P<{{}}>[0-5][0-9])| (?P<{{}}>{_MINUTE_WORD}))?"
CLOCK = (r"(?i:(?P<special>noon|midday|midnight)"
         rf"|(?P<offset>{_MINUTES}) (?P<direction>past|after|to|before) (?P<base>{_HOUR12})"
         rf"(?: ?(?P<half1>{_HALF})| (?P<part1>{_DAYPART}))?"
         rf"|(?P<hour12>{_HOUR12}){_AFTER.format('minute12', 'minute_word12')}"
         rf"(?: ?(?P<half>{_HALF})| (?P<part>{_DAYPART}))"
         rf"|(?P<hour>{_HOUR}){_AFTER.format('minute', 'minute_word')})")
_ORDINAL = r"(?:st|nd|rd|th)?"
_WEEKDAYS = ["mon", "tues", "wednes", "thurs", "fri", "satur", "sun"]  # +"day": Monday is 0, as in `weekday()`
# And as people type them: "on fri at 3pm", "next thurs", "Tue 10am" (read as today's date before, and "on Tue"
# went into the event's title). "Mon", "Wed", "Sat" and "Sun" are words too ("in the sun", "SAT prep"), so those
# four count only capitalised as a name is.
_SHORT_DAYS = r"(?:(?i:tues|tue|thurs|thur|thu|weds|fri)|(?-i:Mon|Wed|Sat|Sun))\.?(?!\w)"
_WEEKDAY = "(?:" + _words([d + "day" for d in _WEEKDAYS]) + "|" + _SHORT_DAYS + ")"
DATE = (rf"(?i:(?:{_WEEKDAY},? )?(?:the )?"
        rf"(?:(?P<month>{_MONTH}) (?P<day>3[01]|[12][0-9]|0?[1-9]){_ORDINAL}(?:,? (?P<year>20[0-9]{{2}}))?"
        rf"|(?P<day2>3[01]|[12][0-9]|0?[1-9]){_ORDINAL}(?: of)? (?P<month2>{_MONTH})(?:,? (?P<year2>20[0-9]{{2}}))?"
        rf"|(?P<iso>20[0-9]{{2}}-[01][0-9]-[0-3][0-9])"
        rf"|(?P<first>3[01]|[12][0-9]|0?[1-9])[/.](?P<second>3[01]|[12][0-9]|0?[1-9])"
        rf"[/.](?P<year3>20[0-9]{{2}})"
        rf"|(?P<relative>today|tomorrow))"
        rf"|(?:(?:this|next) )?(?P<weekday>{_WEEKDAY}))")
_JOIN = r"(?:,? (?:at|from|between|on|@) |,? )"
# "+44 …", and as people also say it, "0044 …" (the international prefix) and "plus 44 …"; and as a voice
# assistant hears it, digit by digit: "plus one four one five, five five five, zero one nine nine".
DIGIT_WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
               "seven": "7", "eight": "8", "nine": "9"}
_DIGIT_WORD = "(?:" + _words(list(DIGIT_WORDS)) + ")"
SPOKEN_PHONE = rf"(?i:plus {_DIGIT_WORD}(?:,? {_DIGIT_WORD}){{6,14}})"
HOME_CODE = "1"  # the calling code a number said without one is read in (North America's: see the docstring)
# Area code (in brackets or not), exchange, line; a leading trunk "1" as people dial it from a landline.
NATIONAL_PHONE = r"(?:1[ .\-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .\-]?)[0-9]{3}[ .\-]?[0-9]{4}"
PHONE = (r"(?:(?:\+ ?|00|(?i:plus) )[1-9][0-9]{0,14}(?:(?:[ .\-/]|\) ?| ?\()[0-9]{1,8}){0,6}"
         rf"|{SPOKEN_PHONE}|{NATIONAL_PHONE})")
# ISO 639-1 code → names a user calls the language by; the first is the one the data generator writes.
LANGUAGES: dict[str, tuple[str, ...]] = {
    "en": ("English",), "fr": ("French", "Francais", "Français"), "es": ("Spanish", "Castilian", "Espanol", "Español"),
    "de": ("German", "Deutsch"), "it": ("Italian", "Italiano"), "pt": ("Portuguese", "Brazilian Portuguese"),
    "nl": ("Dutch", "Nederlands"), "ru": ("Russian",), "zh": ("Chinese", "Mandarin", "Mandarin Chinese"),
    "ja": ("Japanese",), "ko": ("Korean",), "ar": ("Arabic",), "hi": ("Hindi",), "tr": ("Turkish",),
    "pl": ("Polish", "Polski"), "sv": ("Swedish", "Svenska"), "no": ("Norwegian", "Norsk"), "da": ("Danish",),
    "fi": ("Finnish",), "el": ("Greek",), "he": ("Hebrew",), "id": ("Indonesian", "Bahasa Indonesia"),
    "vi": ("Vietnamese",), "th": ("Thai",), "uk": ("Ukrainian",), "cs": ("Czech",), "ro": ("Romanian",),
    "hu": ("Hungarian",), "fa": ("Persian", "Farsi"), "sw": ("Swahili", "Kiswahili"), "bn": ("Bengali", "Bangla"),
    "ms": ("Malay",), "ur": ("Urdu",), "ta": ("Tamil",), "tl": ("Tagalog", "Filipino"), "ca": ("Catalan",),
    "hr": ("Croatian",), "sr": ("Serbian",), "bg": ("Bulgarian",), "sk": ("Slovak",), "lt": ("Lithuanian",),
}
_LANGUAGE_CODE = {name.lower(): code for code, names in LANGUAGES.items() for name in names}


@dataclass(frozen=True)
class Kind:
    """One kind of value the user says in their own words."""

    name: str
    surface: str                  # the words accepted, with named groups (the canonical form is added)
    formats: tuple[str, ...]      # strftime layouts a spec may want; the first its pattern accepts is used
    json_format: str | None       # the JSON Schema `format` that also means this kind


KINDS = [
    Kind("datetime", rf"(?:{DATE}{_JOIN}{CLOCK}|{CLOCK}{_JOIN}{DATE}|{CLOCK})",
         ("%Y-%m-%d-%H-%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"), "date-time"),
    Kind("date", DATE, ("%Y-%m-%d",), "date"),
    Kind("time", CLOCK, ("%H:%M", "%H:%M:%S"), "time"),
    Kind("phone", PHONE, ("e164",), None),
]
LANGUAGE = Kind("language", "(?i:" + _words([n for names in LANGUAGES.values() for n in names]) + ")",
                ("iso639",), None)
_SAMPLE = dt.datetime(2025, 6, 3, 13, 5)
_PHONES = ("+14155550132", "+442079460958", "+61638507377")
_NAMES = re.compile(r"\(\?P<\w+>")


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    """A schema's pattern compiled, or None where Python's re cannot (bounded: patterns come from users)."""
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return None


@lru_cache(maxsize=256)
def _kind_of(pattern: str | None, json_format: str | None) -> tuple[Kind, str] | None:
    """The kind and output layout of a string schema with this pattern (anchored, accepting the kind's
    canonical examples and nothing else that is tried) or, without a pattern, this JSON Schema format."""
    if pattern is None:
        kind = next((k for k in KINDS if json_format is not None and k.json_format == json_format), None)
        return None if kind is None else (kind, kind.formats[-1] if kind.name == "datetime" else kind.formats[0])
    compiled = _compiled(pattern)
    if compiled is None:
        return None
    for kind in KINDS:
        for layout in kind.formats:
            examples = _PHONES if layout == "e164" else (_SAMPLE.strftime(layout),
                                                          _SAMPLE.replace(hour=23, minute=59).strftime(layout))
            others = ("hello world", "x" + examples[0] + "x")
            if all(compiled.search(e) for e in examples) and not any(compiled.search(o) for o in others):
                return kind, layout
    return None


@lru_cache(maxsize=256)
def _is_language(pattern: str, description: str) -> bool:
    if not re.search(r"language|639", description, re.IGNORECASE):
        return False
    compiled = _compiled(pattern)
    return (compiled is not None and all(compiled.search(code) for code in LANGUAGES)
            and not compiled.search("hello world"))


def kind_of(schema: dict[str, Any]) -> tuple[Kind, str] | None:
    if schema.get("type") != "string" or "enum" in schema:
        return None
    pattern, fmt, about = schema.get("pattern"), schema.get("format"), schema.get("description")
    if isinstance(pattern, str) and isinstance(about, str) and _is_language(pattern, about):
        return LANGUAGE, "iso639"
    return _kind_of(pattern if isinstance(pattern, str) else None, fmt if isinstance(fmt, str) else None)


def surface_pattern(schema: dict[str, Any]) -> str | None:
    """The grammar's pattern for a value of a kind (no named groups): the user's words or the canonical form."""
    words = words_pattern(schema)
    if words is None:
        return None
    canonical = schema.get("pattern", "").removeprefix("^").removesuffix("$") if schema.get("pattern") else None
    return f"(?:{canonical})|{words}" if canonical else words


def free_texts(properties: dict[str, dict[str, Any]], arguments: dict[str, Any]) -> list[str]:
    """The call's free-text values that say something (`is_free_text`)."""
    return [v for k, v in arguments.items() if isinstance(v, str) and v.strip()
            and isinstance(properties.get(k), dict) and is_free_text(properties[k])]


def words_pattern(schema: dict[str, Any]) -> str | None:
    """The words a user says a value of a kind with (no named groups; without the spec's own pattern, whose
    `[a-z]{2}` for a language code would find "in" and "me" in any request)."""
    found = kind_of(schema)
    return None if found is None else _surface(found[0].surface).pattern


def normalise(schema: dict[str, Any], value: Any, previous: dt.date | None = None,
              today: dt.date | None = None) -> Any:
    """The canonical value for the user's words (`value` itself when it is not of a kind, already canonical,
    or not words this module reads — validation then says what is wrong)."""
    found = kind_of(schema)
    if found is None or not isinstance(value, str):
        return value
    kind, layout = found
    text = " ".join(value.split())
    if _canonical(schema, layout, text):
        return text
    if kind is LANGUAGE:
        return _LANGUAGE_CODE.get(text.lower(), value)
    today = today or dt.date.today()
    if kind.name == "phone":
        if not re.fullmatch(PHONE, text):
            return value
        digits = re.sub(r"\D", "", re.sub(r"[a-z]+", lambda w: DIGIT_WORDS.get(w.group(0), ""), text.lower()))
        if re.fullmatch(NATIONAL_PHONE, text):
            return "+" + HOME_CODE + digits[-10:]
        return "+" + (digits[2:] if text.startswith("00") else digits)  # "0044 …": 00 is the international prefix
    when = read(kind.name, text, previous, today)
    return value if when is None else when.strftime(layout)


def _canonical(schema: dict[str, Any], layout: str, text: str) -> bool:
    if schema.get("pattern"):
        return re.search(schema["pattern"], text) is not None
    try:
        return layout != "e164" and dt.datetime.strptime(text, layout) is not None
    except ValueError:
        return False


def read(kind: str, text: str, previous: dt.date | None, today: dt.date) -> dt.datetime | None:
    """The moment the words `text` name, for a time, date or date-time kind (None: not such words)."""
    if kind == "time":
        clock = _clock(text)
        return None if clock is None else dt.datetime.combine(today, clock)
    date_match = re.fullmatch(DATE, text) if kind == "date" else re.search(DATE, text)
    if kind == "date":
        day = _date(date_match, today) if date_match else None
        return None if day is None else dt.datetime.combine(day, dt.time())
    day = previous or today
    if date_match:
        found = _date(date_match, today)
        if found is None:
            return None
        day = found
    clock = _clock(_clock_words(text, date_match))
    return None if clock is None else dt.datetime.combine(day, clock)


def _clock_words(text: str, date_match: re.Match[str] | None) -> str:
    """A date-time's words without its date (and the "at"/"on" that joined them)."""
    if date_match is None:
        return text
    rest = " ".join((text[:date_match.start()] + " " + text[date_match.end():]).split()).strip(" ,")
    return re.sub(r"^(?:at|from|between|on|@) |(?: at| from| between| on| @)$", "", rest).strip(" ,")


def _date(m: re.Match[str], today: dt.date) -> dt.date | None:
    if m.group("relative"):
        return today + dt.timedelta(days=m.group("relative").lower() == "tomorrow")
    if m.group("weekday"):  # the next such day after today: "Friday" said on a Friday is a week away
        day = next(i for i, name in enumerate(_WEEKDAYS) if name[:2] == m.group("weekday")[:2].lower())
        ahead = (day - today.weekday() - 1) % 7 + 1
        return today + dt.timedelta(days=ahead)
    try:
        if m.group("iso"):
            return dt.date.fromisoformat(m.group("iso"))
        if m.group("year3"):  # 25/02/2026 is day first, 02/25/2026 month first; 03/04/2026 as the US writes it
            first, second = int(m.group("first")), int(m.group("second"))
            day, month = (first, second) if first > 12 else (second, first)
            return dt.date(int(m.group("year3")), month, day)
        month_name = (m.group("month") or m.group("month2")).lower().rstrip(".")
        month = next(i for i, name in enumerate(MONTHS, 1) if name.startswith(month_name[:3]))
        day = int(m.group("day") or m.group("day2"))
        year = m.group("year") or m.group("year2")
        if year:
            return dt.date(int(year), month, day)
        this_year = dt.date(today.year, month, day)
        return this_year if this_year >= today else dt.date(today.year + 1, month, day)
    except ValueError:  # February 30
        return None


def _number(words: str) -> int:
    words = words.lower().replace("-", " ")
    if words.isdigit():
        return int(words)
    return sum(_WORTH.get(word, 0) for word in words.split())  # "oh" of "seven oh five" is worth nothing


def _clock(text: str) -> dt.time | None:
    m = re.fullmatch(CLOCK, text)
    if m is None:
        return None
    if m.group("special"):
        return dt.time(0 if m.group("special").lower() == "midnight" else 12)
    if m.group("offset"):
        hour = _hour(m.group("base"))
        offset = m.group("offset").lower()
        minutes = {"half": 30, "quarter": 15}.get(offset) or _number(re.sub(r" minutes?$", "", offset))
        total = hour * 60 + (minutes if m.group("direction").lower() in ("past", "after") else -minutes)
        hour, minute = divmod(total % (24 * 60), 60)
        half = m.group("half1") or m.group("part1")
    else:
        twelve = "12" if m.group("hour12") else ""
        hour = _hour(m.group("hour" + twelve))
        minute = m.group("minute" + twelve)
        minute = int(minute) if minute else _number(m.group("minute_word" + twelve) or "0")
        half = m.group("half") or m.group("part")
    if half:
        half = half.lower().replace(".", "")
        if "night" in half:  # "12 at night" is midnight, "2 at night" 2 am, "10 tonight" 22:00
            later = 5 <= hour < 12
        else:
            later = half == "pm" or "afternoon" in half or "evening" in half
        hour = hour % 12 + (12 if later else 0)
    return dt.time(hour, minute)


def _hour(word: str) -> int:
    return int(word) if word.isdigit() else _HOURS.index(word.lower()) + 1


def normalise_call(properties: dict[str, dict[str, Any]], arguments: dict[str, Any],
                   today: dt.date | None = None) -> dict[str, Any]:
    """A call's arguments with every value of a kind made canonical, in property order, so that a date-time
    without a date ("to 3 pm") takes the date of the one before it."""
    out, previous = dict(arguments), None
    clocks = []  # (argument, layout, how its clock was said) of each time and date-time, in order
    for name, schema in properties.items():
        if name not in out or not isinstance(schema, dict):
            continue
        said = out[name]
        out[name] = normalise(schema, said, previous, today)
        previous = _day(schema, out[name]) or previous
        found = kind_of(schema)
        if found is not None and found[0].name in ("time", "datetime") and isinstance(said, str):
            clocks.append((name, found[1], _placed(found[0].name, " ".join(said.split()))))
    for (a, layout_a, said_a), (b, layout_b, said_b) in itertools.pairwise(clocks):
        start, end = _moment(out[a], layout_a), _moment(out[b], layout_b)
        if start is None or end is None:
            continue
        if said_a == "bare" and said_b == "pm" and start + _HALF_DAY <= end:  # "2 to 5 pm"
            out[a] = (start + _HALF_DAY).strftime(layout_a)
        elif said_b == "bare" and end < start < end + _HALF_DAY:  # "9 am to 5"
            out[b] = (end + _HALF_DAY).strftime(layout_b)
    return out


_HALF_DAY = dt.timedelta(hours=12)


def _placed(kind: str, text: str) -> str | None:
    """How a clock was said: "bare", an hour of 1 to 11 with nothing to place it in the day ("2", "2:30",
    not "02:30"); "pm", said as later in the day ("5 pm", "5 in the evening"); None otherwise."""
    m = re.fullmatch(CLOCK, text if kind == "time" else _clock_words(text, re.search(DATE, text)))
    if m is None:
        return None
    hour = m.group("hour")
    if hour and not hour.startswith("0") and 1 <= _hour(hour) <= 11:
        return "bare"
    half = (m.group("half") or m.group("part") or m.group("half1") or m.group("part1") or "").lower()
    later = half.replace(".", "") == "pm" or any(w in half for w in ("afternoon", "evening", "tonight"))
    return "pm" if later else None


def _moment(value: Any, layout: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, layout) if isinstance(value, str) else None
    except ValueError:
        return None


def from_query(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A call's arguments read against the request they answer: `widen_call`, `started`, `dated`, `widen_place`,
    `hand_over`, `give_way`, `lasting`, `ended`, `as_typed`, `whole_marks`, `run_back`, `run_back_to_opener`,
    `run_into`, `untail`, `unarticled`, `topic_alone`, `unled`, `unnamed`, then `from_to`."""
    arguments = started(properties, widen_call(properties, arguments, query), query)
    arguments = widen_place(properties, dated(properties, arguments, query), query)
    arguments = hand_over(properties, arguments, query)
    arguments = lasting(properties, give_way(properties, arguments, query), query)
    arguments = whole_marks(properties, as_typed(properties, ended(properties, arguments, query), query), query)
    arguments = run_back_to_opener(properties, run_back(properties, arguments, query), query)
    arguments = unarticled(properties, untail(properties, run_into(properties, arguments, query), query))
    return from_to(properties, unnamed(properties, unled(properties, topic_alone(properties, arguments))), query)


def _held(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> Callable[[int, int], bool]:
    """Whether the request's characters `i:j` lie inside a free-text value of the call: a date in the title "June 3
    launch", a choice in the message "I'm back" are the value's words, not the request's own."""
    values = [span for v in free_texts(properties, arguments) for span in spans(v, query)]
    return lambda i, j: any(a <= i and j <= b for a, b in values)


def dated(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A date-time copied as a clock alone takes the one date the request says apart from it: "an event called
    Iftar at Yusuf's on January 20, 2027 starting at 6:30 pm and ending at 8 pm" came back with the start "6:30
    pm", and the event went to today (a fresh hand-written set, the quickstart model of 2026-12-05): the date and
    the clock are not side by side, so no surface holds both (`widen_call`). Only the call's first date-time
    (the rest take its date, `normalise_call`), only where the request says one date (two: whose is which?),
    and not one inside a value's words ("add June 3 launch at 5pm")."""
    stamps = [name for name, schema in properties.items() if isinstance(schema, dict) and name in arguments
              and (found := kind_of(schema)) is not None and found[0].name == "datetime"]
    if not stamps or not isinstance(value := arguments[stamps[0]], str) or re.search(DATE, value) \
            or normalise(properties[stamps[0]], value) == value:  # canonical already, or no clock
        return arguments
    held = _held(properties, arguments, query)
    dates = [m for m in re.finditer(rf"(?<!\w)(?:{_surface(DATE).pattern})(?!\w)", query) if not held(*m.span())]
    if len({m.group(0).casefold() for m in dates}) != 1:
        return arguments
    return arguments | {stamps[0]: f"{dates[0].group(0)} at {value}"}


def as_typed(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A free-text value that the request says in one spelling, once or more, in other letter case, is written
    as the user typed it: the grammar lets a copy take a span case aside (so "tokyo" of "Tokyo" stays
    reachable), and a small model at a near tie spelled "the farmers market" "the FARMeRs", "AirPods" "AirPodS",
    and "text mom 'landed safely' and text dad 'landed safely, see you soon'" "landed safelY" (the 150-step
    model of 45ad4d3). A value is the user's words; said in two spellings ("Paris … paris"), it is left."""
    out = dict(arguments)
    for name, value in arguments.items():
        if isinstance(value, str) and value.strip() and isinstance(properties.get(name), dict) \
                and is_free_text(properties[name]) and len(typed := {query[a:b] for a, b in spans(value, query)}) == 1:
            out[name] = typed.pop()
    return out


def whole_marks(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A free-text value that ends inside a run of one mark ("!!", "???") takes the rest of it: "shoot a quick
    text to Lena happy birthday!!" had the message "happy birthday!" (the 150-step model of 45ad4d3; "send a
    message to Oluwaseun: happy birthday!! 🎉" the same): the generator sets a bare "!!" off as a tail, so the
    model learnt to stop at a mark. The same mark right after the value's own is not the request's; another may
    be ("can you … say tickets are booked!?": the "?" asks the assistant)."""
    out = dict(arguments)
    for name, (start, end) in _said_once(arguments, query).items():
        mark = query[end - 1]
        if isinstance(properties.get(name), dict) and is_free_text(properties[name]) and mark in "!?" \
                and (more := re.compile(re.escape(mark) + "+").match(query, end)):
            out[name] = query[start:more.end()]
    return out


def _about(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], speaks: re.Pattern[str],
           named: bool = False) -> Iterator[tuple[str, str]]:
    """(name, value) of each free-text string value whose description (with `named`, its name too) `speaks` of."""
    for name, value in arguments.items():
        schema = properties.get(name)
        if not (isinstance(value, str) and isinstance(schema, dict) and is_free_text(schema)):
            continue
        said = str(schema.get("description", ""))
        if speaks.search(f"{name} {said}" if named else said):
            yield name, value


# An argument that names a place (by its name or description), and a region after a place: capitalised words
# right after ", ", up to punctuation or a word in lower case. "I" ("…, I'm in a hurry"), thanks and the words
# that begin a next request or a question ("…, Thanks!", "…, Then text Ana") begin no region.
_PLACE = re.compile(r"\b(?:location|place|city|town|address|origin|destination|where)\b", re.IGNORECASE)
_REGION = re.compile(r", ([A-Z](?:[\w'-]|\.(?=\w))*(?: (?!I\b)[A-Z](?:[\w'-]|\.(?=\w))*)*)(?![\w'-])")
_NO_REGION = frozenset("i thanks thank please pls plz ty cheers now today tomorrow tonight then and also but so can "
                       "could would will what how when is are do does ok okay hey".split())


def widen_place(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A place copied without the region the request gives it after a comma, widened to it: "Paris" of "the
    forecast for Paris, France and then …", "Cork" of "what should I wear in Cork, Ireland tomorrow?". A small
    model ends a value at a comma more often than its training data does (4 of a quickstart model's 840
    evaluated answers); no place of the 2,314 in the generated and hand-written labels would change."""
    out = dict(arguments)
    for name, value in _about(properties, arguments, _PLACE, named=True):
        found = spans(value, query) if value.strip() else []
        region = _REGION.match(query, found[0][1]) if len(found) == 1 else None
        if region and region.group(1).replace("'", " ").split()[0].lower() not in _NO_REGION:
            out[name] = query[found[0][0]:region.end()]
    return out


def _said_once(arguments: dict[str, Any], query: str) -> dict[str, tuple[int, int]]:
    """Where the request says each string value that it says exactly once."""
    return {name: found[0] for name, value in arguments.items()
            if isinstance(value, str) and value.strip() and len(found := spans(value, query)) == 1}


def give_way(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A free-text value that runs on into the words another argument of the call copied ends before them (and
    the "on", "at", comma … that led to them): "Board meeting tomorrow from 2pm to 4pm" written with title
    "Board meeting tomorrow" and start "tomorrow from 2pm", "txt dad happy birthday" with contact "dad happy
    birthday". Two arguments never take the same words; only values the query holds once are placed. A value
    that stops right before another argument's words drops the joiner it kept ("Tame Impala off" of "play Tame
    Impala off SoundCloud", "Broken drill content" of "subject Broken drill content The chuck …"); one that starts
    with them starts after them ("msg Dmitri dont forget the hdmi cable" written with contact "Dmitri" and message
    "Dmitri dont forget the hdmi cable": terse requests put no "saying" between the two)."""
    placed = _said_once(arguments, query)
    out = dict(arguments)
    for name, (a, b) in placed.items():
        if not (isinstance(properties.get(name), dict) and is_free_text(properties[name])):
            continue
        for other, (c, d) in placed.items():
            if other != name and a < c < b <= d and (rest := _HAND_OFF.sub("", query[a:c].rstrip()).strip()):
                out[name] = rest
            elif other != name and b <= c and not query[b:c].strip(" ,:") and \
                    (rest := _HAND_OFF.sub("", out[name]).strip()):
                out[name] = rest
            elif other != name and a == c < d < b and (rest := _HANDED.sub("", query[d:b]).strip()):
                out[name] = rest
    return out


# Words that hand the request on to the next value ("off SoundCloud", "subject Broken drill content The chuck…",
# "text Jake that I'm outside", "titled Running late and the message Stuck in traffic…", "subject Re: plans, and
# say …", "body I'm free most afternoons, send it to enakamura@…"): a value that ends in them, right before another
# argument's words, ends before.
_HAND_OFF = re.compile(r"(?:,?\s+(?:in|on|at|for|from|by|off|via|with|using|through|to|saying|that|subject|title|"
                       r"body|content|message|text|say|just|and|the|send (?:it|this|that))|[,;:])+\s*$", re.IGNORECASE)
# The same words where they hand over to a value that follows ("Dmitri: dont forget", "Ana saying on my way").
_HANDED = re.compile(r"^(?:[,;:]|\s+(?:saying|that|say|message|text))+\s", re.IGNORECASE)


_REACH = 40  # characters a date may stand before the clock copied: "Saturday, the 14th of March 2026 at "


def widen_call(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """Times, dates and numbers copied short of the user's words, widened to them: "11:10" of "11:10 pm",
    "June 3" of "June 3, 2026 at 9 am", "3pm" of "tomorrow at 3pm". The grammar lets a value end at any form
    this module reads, and a small model sometimes ends it at the first ("11:10" is a 24-hour clock) or
    starts it at the clock, although the words around it change it; the value is the longest surface of its
    kind around the copy (starting at most `_REACH` characters before it)."""
    out = dict(arguments)
    for name, value in arguments.items():
        found = kind_of(properties[name]) if isinstance(properties.get(name), dict) else None
        if found is None or found[0] is LANGUAGE or not isinstance(value, str) or not value.strip():
            continue
        words, surface = " ".join(value.split()), _surface(found[0].surface)
        for copy in re.finditer(r"(?<![\w+])" + re.escape(words), query, re.IGNORECASE):
            starts = [i for i in range(max(0, copy.start() - _REACH), copy.start() + 1)
                      if i == copy.start() or (not query[i].isspace() and not query[i - 1].isalnum())]
            around = [m.group(0) for i in starts if (m := surface.match(query, i)) and m.end() >= copy.end()]
            wider = max(around, key=len, default="")
            if len(wider) > len(words):
                out[name] = wider
                break
    return out


_LEAD_IN = re.compile(r"(?:,?\s+(?:in|on|at|for|from|by)|,)\s*$", re.IGNORECASE)


def hand_over(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A free-text value that runs on into the words of another argument, which the call leaves out, gives
    them to it: "news on Real Madrid in spanish" written as `query=' Real Madrid in spanish'` with no language
    is query "Real Madrid", language "spanish". People put the language last, after "in" or a comma, and a
    small model copies on past the topic (3 to 7 of the 13 hand-written requests that name a language, draw
    by draw). Only where the words follow "in", "on", "at", "for", "from", "by" or a comma: "news about
    learning French" keeps its topic. Four quickstart models (2026-12-02), same weights: 2, 3, 9 and 2 more
    exact calls of the 440 hand-written requests, 0, 0, 6 and 0 of 400 held-out, none fewer."""
    missing = {name: sorted(word_spans(query, pattern), key=len, reverse=True) for name, schema in properties.items()
               if name not in arguments and isinstance(schema, dict) and (pattern := words_pattern(schema))}
    out = dict(arguments)
    for name, value in arguments.items():
        schema = properties.get(name)
        if not isinstance(value, str) or not isinstance(schema, dict) or not is_free_text(schema):
            continue
        value = value.rstrip()
        for other, words in list(missing.items()):
            for said in words:
                head = value[: -len(said)] if value.casefold().endswith(said.casefold()) else ""
                if (lead := _LEAD_IN.search(head)) and (rest := head[: lead.start()].strip()):
                    out[name], out[other] = rest, said
                    del missing[other]
                    break
    return out


# A description of words to be sent ("the text to send", "the body of the email"): a message, whose words a
# person may go on with after a comma, a colon or a full stop.
_SENT = re.compile(r"\b(?:message|text|body|content)\b", re.IGNORECASE)
# What follows a message in a request without being part of it: the words that frame it ("… as the message",
# "… by text", "…, send that") or the app it goes through ("… on WhatsApp"). Other words after a preposition
# are the message's: "can you send me the address to the party?", "don't forget mum's birthday on Sunday".
_FRAME = re.compile(r"^\W*(?:on|via|with|using|through|over|in|by)\s+(?:whatsapp|signal|telegram|imessage|messenger|"
                    r"slack|teams|discord|wechat|viber)\b|\b(?:message|text|body|content|subject|title|email|"
                    r"note|sms|send|saying)\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_UNSAYABLE = re.compile(r"[\\<\x00-\x1f\x7f]")  # what no value the grammar admits holds: a control token's "<"


def said_choice(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A choice the request names is the one it makes: "door lock now" came back `status='open'` and "now mue
    media" `volume_type='alarm'` (a fresh hand-written set and the held-out requests, the quickstart model of
    2026-12-05). Where the request says one of an argument's enum values as a word of its own, and not the one
    the model chose, that one is taken: not in a value's words ("text Bob I'm back"), nor in the request's tail
    ("…, I'm driving"), nor where a value is said inside a longer word too ("unlock the smart lock": whose
    "lock"?), nor over a default, which the model answers when the request names no choice ("the front door").
    Of the 2,160 labelled one-call requests with a choice, the reading changes none."""
    end, held, out = tail_at(query), _held(properties, arguments, query), dict(arguments)
    for name, value in arguments.items():
        options = properties.get(name, {}).get("enum") if isinstance(properties.get(name), dict) else None
        if not options or not all(isinstance(o, str) for o in options):
            continue
        if value == properties[name].get("default"):  # "take a photo of the front door" is a back-camera photo
            continue
        named = {o for o in options for i, j in spans(o, query) if j <= end and not held(i, j)}
        inside = any(re.search(rf"\w{re.escape(o)}|{re.escape(o)}\w", query, re.IGNORECASE) for o in options)
        if len(named) == 1 and value not in named and not inside:
            out[name] = named.pop()
    return out


def run_on(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """The message of a request's one call, copied short of the request's end, runs on to it: a small model
    ends a message at a comma, a colon or a full stop more often than people do ("text Priya: running 10 min
    late, sorry!", "… body heads up: we're deploying v2.3 at 5pm, so expect ~10 min downtime", "… off. Thanks,
    Omar"), because the training data sets politeness off after one (`hare.tools.asides`). So a value whose
    description speaks of words to send, found once in the request, with no other value after it, takes the
    rest of the request (words, or emoji alone: "… happy birthday!! 🎉" of the sixth hand-written set), but for a
    set-off tail of politeness or urgency ("…, thanks!", " please"; a bare " asap" is the message's, as the
    generator labels it) and never words that frame it ("… as the message") or name the app it goes through ("…
    on Signal"), nor over a joiner ("… and then call Bob", "…; call Bob"): what follows one may be a request the
    answer dropped, which the second look (`hare.tools.joins`) finds only after the values. A message that
    repeats the contact's words runs on from after them. A single call only: after the message of a two-call
    answer comes the other request."""
    strings = [" ".join(v.split()) for v in arguments.values() if isinstance(v, str) and v.strip()]
    out = dict(arguments)
    for name, value in arguments.items():
        schema = properties.get(name)
        if not (isinstance(value, str) and value.strip() and isinstance(schema, dict) and is_free_text(schema)
                and _SENT.search(str(schema.get("description", "")))):
            continue
        words = " ".join(value.split())
        found = spans(words, query)
        if len(found) != 1:
            continue
        start, end = found[0]
        if any(i >= end for other in strings if other != words for i, _ in spans(other, query)):
            continue
        said = query[end:tail_at(query, end)].rstrip()
        if (_WORD.search(said) or _pictures(said)) and not _FRAME.search(said) and not _UNSAYABLE.search(said) and \
                not AFTER.search(query, end, end + len(said)) and len(words) + len(said) <= VALUE_CHARS:
            # A message that only repeats another value's words (the contact's: "msg beatriz on my way" with the
            # message "beatriz") is the rest alone; two arguments never take the same words (`give_way`).
            repeats = strings.count(words) > 1
            out[name] = _HANDED.sub("", said).strip() if repeats else query[start:end] + said
    return out


# A request put to the assistant as a question, whose closing "?" is the request's ("Can you let Noa know by text that
# I'm on the train?"), and a clause that asks something itself ("did you feed the cat?", "…, is Friday possible?",
# "want to get tacos later?", "…, right?").
_ASKED = re.compile(r"^\W*(?:(?:hey|hi|um|uh|so|ok|okay|please)\W+)*(?:can|could|would|will)\s+(?:you|u)\b",
                    re.IGNORECASE)
_ASKS = re.compile(r"^\W*(?:what|when|where|who|whom|whose|which|why|how|is|are|am|was|were|do|does|did|can|could|"
                   r"would|will|should|shall|have|has|had|may|might|isn't|aren't|don't|doesn't|didn't|won't|wouldn't|"
                   r"can't|couldn't|shouldn't|haven't|right|ok|okay|yeah|yes|no|you|u|any|anyone|anything|want|wanna|"
                   r"fancy|free)\b", re.IGNORECASE)
_CLAUSE = re.compile(r"[,;:.!?]\s+|\s+[-–]\s+|\s+(?:and|but|so|or)\s+", re.IGNORECASE)


def unasked(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A free-text value that ends with the closing "?" of a request put as a question ends before it: "Can you let
    Noa Horvath know by text that I said pizza's here and then I'm on the train?" is the message "… on the train"
    (two of the 400 held-out, the 150-step quickstart model of 45ad4d3) — unless the value's last clause asks
    something itself ("Could you text Alex and ask: did you feed the cat?", "Could you send an email … The body
    should be: I can't make Thursday at 10, is Friday morning possible?": people keep those marks)."""
    end = len(query.rstrip())
    if not (_ASKED.match(query) and query[:end].endswith("?")):
        return arguments
    out = dict(arguments)
    for name, value in arguments.items():
        schema = properties.get(name)
        if not (isinstance(value, str) and value.rstrip().endswith("?") and isinstance(schema, dict)
                and is_free_text(schema)) or [b for _, b in spans(value, query)] != [end]:
            continue
        kept = value.rstrip()[:-1].rstrip()
        if _WORD.search(kept) and not _ASKS.match(_CLAUSE.split(kept)[-1]):
            out[name] = kept
    return out


_TAILS = frozenset(s.strip() for s in SUFFIXES)


def _pictures(text: str) -> bool:
    """Whether `text` is only emoji ("🎉", "❤️", "👍🏽"), which people end a message with; not one the generator sets
    off as politeness ("🙏")."""
    return bool(text.strip()) and text.strip() not in _TAILS and \
        all(c.isspace() or unicodedata.category(c) in ("So", "Sk", "Mn", "Cf") for c in text)


def tail_at(query: str, since: int = 0) -> int:
    """Where the request's set-off tail of politeness or urgency (`hare.tools.asides`) begins after `since`, or its
    length: a tail holds only tail words, so it starts after the last other word, at a comma or a polite word."""
    last = max((since + m.end() for m in _WORD.finditer(query[since:]) if m.group().lower() not in TAIL_WORDS),
               default=since)
    return next((i for i in range(last, len(query)) if not query[i].isalnum() and set_off(query[i:])), len(query))


def _bare(words: str) -> str:
    return " ".join(words.split()).strip(" !?.").lower()


_SET_OFF = frozenset(_bare(s) for s in SUFFIXES if s.startswith(","))  # ", cheers", ", no rush", …


_TOPIC = re.compile(r"\btopic\b", re.IGNORECASE)  # how a news request's subject is described
_WHEN = re.compile(r"\s+(?:today|tonight|(?:right )?now|this (?:week|morning|afternoon|evening)|lately|these days|"
                   r"at the moment)$", re.IGNORECASE)


# The generator's tails that stand without a comma (" ok?", " this instant", " right now"), matched as written:
# "Don't Start Now" is a song.
_UNSET = [s for s in SUFFIXES if not s.startswith(",") and _WORD.search(s)]


def _unset_tail(query: str, start: int, end: int) -> str | None:
    """The value said at `start:end` without the comma-less tails that end the request and that it ran into:
    the earliest cut the tails reach from the end (" right now" + " please", where " now please" leaves "right")."""
    ends, reached = [len(query.rstrip())], set()
    while ends:
        at = ends.pop()
        for tail in _UNSET:
            if query.endswith(tail, 0, at) and start < at - len(tail) and at - len(tail) not in reached:
                reached.add(at - len(tail))
                ends.append(at - len(tail))
    cuts = [at for at in reached if at < end and _WORD.search(query[start:at])]
    return query[start:min(cuts)].rstrip(" ,") if cuts else None


def untail(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A free-text value that runs into the request's tail ends before it when that tail is one of the generator's
    set off by a comma: "… and say don't forget your lunch, cheers" came out with the message "don't forget your
    lunch, cheers" (the quickstart model of 2026-12-04, 2 of its 400 held-out requests); the generator puts it after
    the request, never in a value, and `run_on` stops a message before it. Other words after a comma stay a
    value's: "… at the fundraiser, thank you all!", "No rush on this, whenever you get a chance" (a tail word
    alone, or no comma, had cut 9 and 85 of the generated labels). And a topic that ends the request with when it
    asks ("what's happening with the stock market today", "any news about Taylor Swift today?") ends before it, as
    the generator's topics do: the day is the request's (the hand-written labels; two quickstart models of
    2026-12-04/05 kept "today"). Topics only: a search may be for "what happened today". A value other than words
    to send also ends before a tail of the generator's that closes the request without a comma, as written
    ("… from the nearest Walmart ok?" gave the origin "the nearest Walmart ok"; "Don't Start Now" is a song)."""
    out = dict(arguments)
    for name, (start, end) in _said_once(arguments, query).items():
        if not (isinstance(properties.get(name), dict) and is_free_text(properties[name])):
            continue
        value, cut = arguments[name], tail_at(query, start)
        kept = query[start:cut].rstrip()
        if len(kept) < end - start and _WORD.search(kept) and _bare(query[cut:end]) in _SET_OFF:
            out[name] = kept
        elif not _SENT.search(str(properties[name].get("description", ""))) \
                and (bare := _unset_tail(query, start, end)) is not None:
            out[name] = bare
        elif _TOPIC.search(str(properties[name].get("description", ""))) and (when := _WHEN.search(value)) \
                and _WORD.search(value[:when.start()]) and not _WORD.search(query[end:tail_at(query, end)]):
            out[name] = value[:when.start()]  # "any news about Taylor Swift today?": the day is the request's
    return out


_ARTICLE = re.compile(r"the (?=[A-Z0-9])")


def unarticled(properties: dict[str, dict[str, Any]], arguments: dict[str, Any]) -> dict[str, Any]:
    """A topic that is a name is named without its article: "what's the latest news on the Champions League",
    "any headlines about the Tokyo earthquake" are about "Champions League" and "Tokyo earthquake" to the people
    who labelled our hand-written requests (4 of their 5 topics after "the" + a capital; a topic in lower case,
    "the stock market", keeps it, as they wrote it). The data generator labels its topics the same way, so the
    model learns to copy the name alone, and a copy with the article ends the same. Only a value whose
    description speaks of a topic: a place ("the Hilton") or a title keeps its words."""
    out = dict(arguments)
    for name, value in _about(properties, arguments, _TOPIC):
        if (m := _ARTICLE.match(value)) and value[m.end():].strip():
            out[name] = value[m.end():]
    return out


# What leads to a place and is no part of it: a preposition, or a polite word set off from it by a comma — in lower
# case ("To Baridir" may be a name).
_LED = re.compile(r"(?:(?:from|to|in|at)\s+|(?:please|pls|plz|thanks|thx|ty),\s+)+(?=\w)")


def unled(properties: dict[str, dict[str, Any]], arguments: dict[str, Any]) -> dict[str, Any]:
    """A place copied with the words that lead to it begins after them: "from Mumbai" of "drive from Mumbai to Pune,
    fastest way", "pls, Brooklyn Bridge" of "cycling directions pls, Brooklyn Bridge to Central Park" (the 150-step
    quickstart model of 45ad4d3, hand-written sets 4 and 1). No place of the generated or hand-written labels
    begins with one."""
    out = dict(arguments)
    for name, value in _about(properties, arguments, _PLACE, named=True):
        if m := _LED.match(value.lstrip()):
            out[name] = value.lstrip()[m.end():]
    return out


# The words that name a label or a title, alone ("an event called Retro") or said of "it" ("an alarm at noon, name it
# stretch break"): `named_as` reads what follows them in a request, `unnamed` takes them off a value's start.
_NAMING_WORDS, _NAMING_VERBS = r"called|named|labell?ed|titled", r"call|name|label|title"
# They are never a label's or title's first words ("Named Entity workshop" is a title: a lone word only in lower
# case); and how such an argument is described.
_NAMING_LEAD = re.compile(rf"(?:{_NAMING_WORDS}|(?i:{_NAMING_VERBS})\s+it)\s+(?=\w)")
_LABEL = re.compile(r"\b(?:label|title)\b", re.IGNORECASE)


def unnamed(properties: dict[str, dict[str, Any]], arguments: dict[str, Any]) -> dict[str, Any]:
    """A label or title copied with the words that name it begins after them: "alarm at noon pls, name it stretch
    break" came back with the label "name it stretch break" (hand-written set 4, a 150-step model of 2026-12-06). No
    label or title of the generated or hand-written labels begins with them."""
    out = dict(arguments)
    for name, value in _about(properties, arguments, _LABEL):
        if m := _NAMING_LEAD.match(text := value.lstrip()):
            out[name] = text[m.end():]
    return out


# How a trip's two ends are described.
_START = re.compile(r"\b(?:origin|start|starts|departure)\b", re.IGNORECASE)
_END = re.compile(r"\b(?:destination|end|ends|arrival)\b", re.IGNORECASE)


def _trip_end(properties: dict[str, dict[str, Any]], arguments: dict[str, Any],
              described: re.Pattern[str]) -> str | None:
    """The one free-text argument of the call that `described` names (by its name or description), if one."""
    found = [name for name, _ in _about(properties, arguments, described, named=True)]
    return found[0] if len(found) == 1 else None


def _led_by(value: str, word: str, query: str) -> bool:
    """Whether the request says `value` once, right after `word`."""
    found = spans(value, query)
    return len(found) == 1 and re.search(rf"\b{word}\s+$", query[:found[0][0]], re.IGNORECASE) is not None


def from_to(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A trip's start and end written the other way round from the request's "from" and "to" are swapped back:
    "drive from Mumbai to Pune, fastest way" came back with origin "Pune" and destination "Mumbai" (a quickstart
    model of 58 steps; "… transit directions from Cusco to Ollantaytambo" the same). Only where the start follows
    "to" and the end "from", each said once."""
    start, end = _trip_end(properties, arguments, _START), _trip_end(properties, arguments, _END)
    if start is None or end is None or start == end \
            or not (_led_by(arguments[start], "to", query) and _led_by(arguments[end], "from", query)):
        return arguments
    return arguments | {start: arguments[end], end: arguments[start]}


# What a topic is called after it, in lower case ("stock market news"; "Fox News" is a name).
_CALLED = re.compile(r"\s+(?:news|headlines|stories|articles|updates|coverage)$")


def topic_alone(properties: dict[str, dict[str, Any]], arguments: dict[str, Any]) -> dict[str, Any]:
    """A topic copied with the word for what is asked about it ends before that word: "Show me trending stock market
    news in Japanese" is about "stock market" (the fifth hand-written set; the 150-step model of 45ad4d3 wrote
    "stock market news"). No topic of the generated or hand-written labels ends in one. Only a value whose
    description speaks of a topic, as for `unarticled`."""
    out = dict(arguments)
    for name, value in _about(properties, arguments, _TOPIC):
        if (m := _CALLED.search(value.rstrip())) and _WORD.search(value[:m.start()]):
            out[name] = value.rstrip()[:m.start()]
    return out


# The words that stand between a contact and the message in how people word a text or an e-mail ("text Ana
# saying …", "let Bo know that …", "send Cy a message: …", "email Di, the body …"), the phrase bank's, and those
# that join two of something ("text Bob and Alice I'm late": Bob's message is not "and Alice I'm late").
_LEAD_WORDS = frozenset("say says saying said that tell telling know message msg text txt sms reads reading following "
                        "with body content subject title email write put just and or plus then also".split())
# One to five words, nothing but letters, after a colon or none: "send this to Ana Murphy: want to get tacos later?"
# came back with the message "tacos later?" (held-out, the quickstart model of d41bc42).
_GAP = re.compile(r":?\s+(?:[^\W\d_]+(?:'[^\W\d_]+)?\s+){1,5}")


# The words a call's function is named by, as a value may begin with them misspelt: "add to caendar soccer
# practice" gave the title "caendar soccer practice", "Bleutooth AirPods Pro 2" the device "Bleutooth AirPods Pro 2".
_NAMED_BY = 5  # letters a function's word has at least to be looked for ("alarm", not "set" or "take")


def _leads(word: str) -> bool:
    """Whether `word` (lower case) is a word that leads into a message or joins two things, or a slip on one
    ("sayng", "knw", "bdoy"; not a word of its own a letter off one: "the" of "then", "is" of "its")."""
    if word in _LEAD_WORDS:
        return True
    return word not in _OWN_WORDS and any(slip_of(word, lead) for lead in _LEAD_WORDS)


def _slips_from(word: str, meant: str) -> bool:
    """`word` read as a slip of the fingers on `meant` (or as `meant`): long enough, and beginning as it does."""
    return len(word) >= _SLIP_LETTERS and word[:1] == meant[:1] and slip_of(word, meant)


def _typo_of(word: str, meant: str) -> bool:
    """A slip of the fingers on `meant` that is not `meant` itself nor its plural."""
    return word not in (meant, meant + "s", meant[:-1]) and _slips_from(word, meant)


def unslip(function: str, properties: dict[str, dict[str, Any]], arguments: dict[str, Any]) -> dict[str, Any]:
    """A free-text value that begins with the request's own command, misspelt, begins after it: "add to caendar
    soccer practice …" came back with the title "caendar soccer practice", "set me an alarrm for 4:40pm" with
    the label "set me an alarrm" (left out, the label is its default), "Bleutooth AirPods Pro 2" with that
    device — a small model copies on from where it should have begun when the word that ends the command is
    one it does not know (3 of the 400 held-out requests, the quickstart model of 2026-12-05). Only a slip of a
    word of the function's name: spelt right, it may be the value's ("Bluetooth speaker")."""
    named = [w for w in function.lower().split("_") if len(w) >= _NAMED_BY]
    out = dict(arguments)
    for name, value in arguments.items():
        schema = properties.get(name)
        if not (isinstance(value, str) and isinstance(schema, dict) and is_free_text(schema)) \
                or _SENT.search(str(schema.get("description", ""))):
            continue
        words = list(re.finditer(r"\S+", value))
        slips = [i for i, w in enumerate(words)
                 if any(_typo_of(re.sub(r"\W", "", w.group()).lower(), meant) for meant in named)]
        if not slips:
            continue
        if slips[-1] + 1 < len(words):
            out[name] = value[words[slips[-1] + 1].start():]
        elif "default" in schema:
            out[name] = schema["default"]
    return out


def run_back(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """The message of a call, copied short of its start, runs back to the value before it: "text Sarah running
    late" came out as the message "late", "text dad call me when you wake up" as "when you wake up" — a small
    model starts a message a word or two late where no word such as "saying" or "that" marks its start. So a
    message (a value whose description speaks of words to send, said once) that follows another value of its
    call after one to five plain words ("text Pieter my flight is at 4" had the message "4", the quickstart model
    of 2026-12-05), none of them a word that leads into a message or joins two things
    (`_LEAD_WORDS`) or a slip of the fingers on one ("sayng", "bdoy"), starts right after that value."""
    found = {name: spans(" ".join(v.split()), query) for name, v in arguments.items()
             if isinstance(v, str) and v.strip()}
    out = dict(arguments)
    for name, schema in properties.items():
        if not (len(found.get(name, [])) == 1 and isinstance(schema, dict) and is_free_text(schema)
                and _SENT.search(str(schema.get("description", "")))):
            continue
        start, end = found[name][0]
        before = max((j for other, at in found.items() if other != name for _, j in at if j <= start), default=None)
        gap = _GAP.fullmatch(query, before, start) if before is not None else None
        if gap and not any(_leads(w.lower()) for w in gap.group().lstrip(":").split()):
            out[name] = query[before:end].lstrip(": ")
    return out


# A phrase that begins with a preposition or a dash, up to the next one, a comma or the end: "at the new house", "to
# London", "- sign lease" (of "Notary - sign lease").
# "For" leads one only before a plain word ("tips for beginners", "French for travelers"): before a pronoun, an
# article or a day ("put on Bluey for the kids", "… for me", "… for tomorrow") it is the request's, not the title's.
_PREPOSITIONS = ("with", "at", "from", "on", "in", "to", "about", "of", "for")
_NOT_FOR = frozenset("the a an my your his her our their its this that these those me us you him them it "
                     "today tonight tomorrow now".split())
_PHRASE = re.compile(rf"\s+(?:{'|'.join(_PREPOSITIONS)}|[-–])\s+[^\s,;:!?.]+(?:\s+(?!(?:{'|'.join(_PREPOSITIONS)})\b)"
                     r"[^\s,;:!?.]+)*", re.IGNORECASE)
# "and" or "&" before a capitalised name goes on with the thing named ("dinner with Jo and Sam", "Lunch & Learn")
# up to the end, a stop or a phrase: not a word that starts a request or joins one ("… and Text Ana", "… and Then
# …"), nor a name that more words follow ("… and Ana's number is …" is a next request).
_PAIRED = re.compile(rf"\s+(?:and|&)\s+(?!I\b)([A-Z][\w'-]*)(?:\s+[A-Z][\w'-]*)*"
                     rf"(?=\s*$|\s*[,.;:!?]|\s+(?:{'|'.join(_PREPOSITIONS)}|[-–])\s)")
_NO_PAIR = JOINING_WORDS | _LEAD_WORDS | frozenset("call play show open set turn find search get check take send "
                                                   "connect pair create add book remind put lock unlock".split())
# Words that say where a request goes rather than what it is about ("… in my calendar", "… on youtube", "… in
# the kitchen", "… in the subject line"), matched with a slip of the fingers too ("calender").
_WHERE = ("calendar youtube tube google maps nest hub app phone contacts screen speaker kitchen living room bedroom "
          "news headlines subject body line inbox email text message").split()
# A slip is read only in a word this long that begins as the word it slips from ("nesw", "you tibe", "calender"):
# one letter off anywhere, "new" is "news", "next" is "text", "nine" is "line" ("meet the contractor at the new
# house" had stopped at "new").
_SLIP_LETTERS = 4
_NAMED = re.compile(r"\b(?:name|contact)\b", re.IGNORECASE)  # a contact's or a device's name, not "music_name"


def _says_where(words: set[str]) -> bool:
    return any(w == where or _slips_from(w, where) for w in words for where in _WHERE)


# Words after which a value begins: "… saying …", "body …", "labelled …", "search … for …". A value copied a word or
# two after one of them (no other word of its kind between) had dropped its first words.
_OPENERS = ("saying says body content message subject title titled called named labelled labeled label for "
            "about").split()
_GRAMMAR_WORDS = frozenset("is are was be being been should will would shall can could must may might by until till "
                           "via using through into onto over under off up down out than as if when while so some any "
                           "few more most all every each other another".split())
_OWN_WORDS = _NOT_FOR | _GRAMMAR_WORDS  # words of their own, never a slip on a lead word (`_leads`)
_NO_START = _NOT_FOR | {*_PREPOSITIONS} | JOINING_WORDS | {*_OPENERS} | TAIL_WORDS | _GRAMMAR_WORDS
_OPENED = re.compile(rf"(?i:\b(?:{'|'.join(_OPENERS)})\s+((?:[^\W\d_]+(?:'[^\W\d_]+)?\s+){{1,2}}))$")


def run_back_to_opener(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A free-text value copied a word or two short of its start runs back to the word that opens it: "search yt
    for iphone 16 unboxing" came back as the query "16 unboxing", "… body Invite is on the calendar" as the body
    "is on the calendar", "set alarm for 22:45 labelled take meds" as the label "meds" (3 of the 440 hand-written
    requests, the quickstart model of 2026-12-05). Only over plain words that neither open, lead into nor join
    anything, nor are another value's, a pronoun, an article or a verb that links ("the subject should be …",
    "search youtube for some cat videos" may well mean "cat videos"). Not for the names of people, devices or
    places (a place has its own reading, `widen_place`)."""
    placed = _said_once(arguments, query)
    taken = [at for value in arguments.values() if isinstance(value, str) and value.strip()
             for at in spans(value, query)]
    out = dict(arguments)
    for name, (start, end) in placed.items():
        schema = properties.get(name)
        said = f"{name} {schema.get('description', '')}" if isinstance(schema, dict) else ""
        if not (isinstance(schema, dict) and is_free_text(schema)) or _PLACE.search(said) or _NAMED.search(said):
            continue
        opened = _OPENED.search(query[:start])
        if opened is None:
            continue
        gap = opened.group(1).lower().split()
        if any(w in _NO_START or _leads(w) or _says_where({w}) for w in gap) \
                or any(a < start and b > opened.start(1) for a, b in taken):
            continue
        out[name] = query[opened.start(1):end]
    return out


def run_into(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str,
             pairs: bool = False) -> dict[str, Any]:
    """A free-text value that the model ended at a preposition takes the phrases it begins: "camping trip" of
    "schedule camping trip to Yosemite on May 2", "how to play Wonderwall" of "… about how to play Wonderwall on
    guitar", "Back" of "stream Back to the Future from Peacock", "wildfires" of "news stories about wildfires in
    California, would you?". A small model stops a value at "to", "on", "at" or "with" because in training such
    words so often lead to the next value. Phrase by phrase, up to another value of the call (and the word that
    leads to it), a comma, a joiner or the end, each phrase of plain words: none that says where the request goes
    ("in my calendar", "on youtube"), holds a figure, a language or what no value holds ("<"), or is politeness
    ("at once"); "for" only before a plain word ("tips for beginners", not "Bluey for the kids"). Not for the names
    of people, devices or places (places have their own reading, `widen_place`) nor for words to send, whose end
    `run_on` reads with the request's own closing "?" or "!". With `pairs` (the one call of an answer: where the
    model made two calls, "play Soft and Hit Me Hard" is two songs), first over "and" or "&" before a capitalised
    name (`_PAIRED`): "dinner with Jo and Sam at Padella" had stopped at "Jo", "Lunch & Learn" at "Lunch" (2 of the
    400 held-out, the quickstart model of 2026-12-05)."""
    placed = _said_once(arguments, query)
    patterns = [p for schema in properties.values() if isinstance(schema, dict) and (p := words_pattern(schema))]
    out = dict(arguments)
    for name, (start, end) in placed.items():
        schema = properties.get(name)
        said = f"{name} {schema.get('description', '')}" if isinstance(schema, dict) else ""
        if not (isinstance(schema, dict) and is_free_text(schema)) or _NAMED.search(said) or _PLACE.search(said) \
                or _SENT.search(said):
            continue
        at, ahead = end, min([c for other, (c, _) in placed.items() if other != name and c >= end] + [len(query)])
        if pairs and (pair := _PAIRED.match(query, end)) and pair.end() <= ahead \
                and pair.group(1).lower() not in _NO_PAIR:
            at = pair.end()
        joint = min([j.start() for j in AFTER.finditer(query, at)] + [len(query)])
        stop = min(ahead, joint)
        while (phrase := _PHRASE.match(query[:joint], at)) and phrase.end() <= stop:
            spoken = [w.lower() for w in _WORD.findall(phrase.group())]
            words = set(spoken)
            if not spoken or spoken[0] == "for" and (len(spoken) < 2 or spoken[1] in _NOT_FOR) or \
                    phrase.group().lstrip()[0] in "-–" and spoken[0] in JOINING_WORDS:  # "… - then call Mom"
                break
            if _says_where(words) or words <= TAIL_WORDS | {*_PREPOSITIONS} \
                    or {"yt", "tv"} & words or re.search(r"\d", phrase.group()) or _UNSAYABLE.search(phrase.group()) \
                    or any(word_spans(phrase.group(), p) for p in patterns):
                break
            at = phrase.end()
        if at > end and len(query[start:at]) <= VALUE_CHARS:
            out[name] = query[start:at]
    return out


_NUMBER_WORD = rf"(?:(?:{_words([*_TENS, *_LONG])})(?:[ -](?:{_words(_UNITS)}))?|{_words([*_TEENS, *_UNITS])})"
_DURATION = re.compile(rf"(?i:\bfor (?:(?P<half>half an?)|(?P<n>\d+(?:\.\d+)?|an?|a couple of|{_NUMBER_WORD}))"
                       rf" (?P<unit>hours?|hrs?|minutes?|mins?)(?: and a (?P<and_half>half)"
                       rf"|,? (?:and )?(?P<n2>\d+|{_NUMBER_WORD}) (?:minutes?|mins?))?)\b")


def _amount(m: re.Match[str]) -> float:
    """How many units a span of time says (`_DURATION`, `_SPAN`): "half a(n)", figures, "a", "an", "a full",
    "a couple of" or number words."""
    if m.group("half"):
        return 0.5
    n = m.group("n").lower()
    return float(n) if n[0].isdigit() else 2 if n == "a couple of" else 1 if n.startswith("a") else _number(n)


def lasting(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """An end equal to its start, or copied from the duration's own words, where the request gives how long
    ("at 12:30 for an hour", "at 9:30 for 15 minutes", whose "15" reads as 15:00), is the start plus that:
    the request says one clock, so the grammar leaves the end nothing to copy but the start's or the
    duration's number, and an event of no length is never what was asked for."""
    said = list(_DURATION.finditer(query))
    if len(said) != 1:
        return arguments
    clocks = [(name, found[1]) for name, schema in properties.items() if name in arguments and isinstance(schema, dict)
              and (found := kind_of(schema)) is not None and found[0].name in ("time", "datetime")]
    if len(clocks) < 2:
        return arguments
    m, canonical, out = said[0], normalise_call(properties, arguments), dict(arguments)
    amount = _amount(m)
    hours = m.group("unit").lower().startswith("h")
    minutes = amount * (60 if hours else 1) + (30 if m.group("and_half") and hours else 0)
    if m.group("n2"):
        minutes += int(m.group("n2")) if m.group("n2").isdigit() else _number(m.group("n2"))
    for (a, layout_a), (b, layout_b) in itertools.pairwise(clocks):
        start, end = _moment(canonical[a], layout_a), _moment(canonical[b], layout_b)
        copied = spans(str(arguments[b]), query)
        inside = bool(copied) and all(m.start() <= i and j <= m.end() for i, j in copied)
        if start is not None and (start == end or inside) and minutes > 0:
            out[b] = (start + dt.timedelta(minutes=minutes)).strftime(layout_b)
    return out


def _is_clock(schema: Any) -> bool:
    return isinstance(schema, dict) and (found := kind_of(schema)) is not None and found[0].name in ("time", "datetime")


# What leads to an end: "until 2:30PM", "done by 9:45am", "ending at 5", "1 - 2 pm".
_UNTIL = re.compile(r"(?:\b(?:until|till|til|to|by|end(?:s|ing)?|finish(?:es|ing)?|through|thru)\b"
                    r"(?:\s+(?:at|by))?|[-–])\s*$", re.IGNORECASE)


def started(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A start written as its end, where the request says another clock right before the end's words and a word
    that leads to an end between them, is that clock: "new event Sprint 42 retro 11/20/2026 3pm to 4pm" was an
    event from 16:00 to 16:00 (the model wrote ' 4pm' twice; the sixth hand-written set, the 150-step model of
    45ad4d3) — the mirror of `ended`. Only an earlier clock."""
    clocks = [(name, kind_of(schema)[1]) for name, schema in properties.items()  # type: ignore[index]
              if name in arguments and _is_clock(schema)]
    if len(clocks) < 2:  # most calls: nothing to normalise
        return arguments
    canonical, out = normalise_call(properties, arguments), dict(arguments)
    for (a, layout_a), (b, layout_b) in itertools.pairwise(clocks):
        end = _moment(canonical[b], layout_b)
        if end is None or _moment(canonical[a], layout_a) != end or not isinstance(arguments[b], str) \
                or len(at := spans(arguments[b], query)) != 1 or not (lead := _UNTIL.search(query, 0, at[0][0])):
            continue
        before = query[:lead.start()].rstrip()
        said = [w for w in word_spans(before, surface_pattern(properties[a]) or "(?!)") if before.endswith(w)]
        if not said:
            continue
        start = max(said, key=len)
        moved = normalise_call(properties, arguments | {a: start})
        begin, finish = _moment(moved[a], layout_a), _moment(moved[b], layout_b)
        if begin is not None and finish is not None and begin < finish:
            out[a] = start
    return out


def ended(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """An end equal to its start or before it, where the request says one other clock after the start's words, is
    that clock (on the start's day): "car wash … it starts 4 May 2025 1:45 pm and goes until 2:30PM" was an event
    from 13:45 to 13:45 and an alarm at 14:30 (4 of the 400 held-out requests, one hand-written, the quickstart
    model of 2026-12-04; `spent` drops the alarm), and "Add Swim meet … from 8am to noon. Also set an alarm at 6:15
    am" an event from 8:00 to 6:15, the alarm's clock (a fresh hand-written set, the model of 2026-12-05). Only a
    later clock that words of an end lead to ("until", "done by", "ending at", "-"), and only one: "book lunch at
    1pm and set an alarm for 3pm" is a second request's."""
    clocks = [(name, schema) for name, schema in properties.items() if name in arguments and _is_clock(schema)]
    if len(clocks) < 2:  # most calls: nothing to normalise
        return arguments
    canonical, out = normalise_call(properties, arguments), dict(arguments)
    for (a, _), (b, schema_b) in itertools.pairwise(clocks):
        if not isinstance(arguments[a], str) or len(at := spans(arguments[a], query)) != 1:
            continue
        layout = kind_of(schema_b)[1]  # type: ignore[index]
        start, after = _moment(canonical[a], layout), at[0][1]
        if start is None or (was := _moment(canonical[b], layout)) is None or was > start:
            continue
        later: dict[dt.datetime, list[str]] = {}
        said = word_spans(query[after:], surface_pattern(schema_b) or "(?!)")
        for words in [w for w in said if not any(w != longer and w in longer for longer in said)]:  # "2" of "2:30"
            if not any(_UNTIL.search(query, 0, i) for i, _ in spans(words, query) if i >= after):
                continue
            end = _moment(normalise_call(properties, arguments | {b: words})[b], layout)
            if end is not None and end > start:
                later.setdefault(end, []).append(words)
        if len(later) == 1:
            out[b] = max(next(iter(later.values())), key=len)
    return out


# Words that give an amount: figures, number words, and the units and fractions an amount is said in ("give it
# a minute", "half an hour", "max"): where a request has none of them, it gives no number.
_AMOUNT = re.compile(r"\d|\b(?:" + _words([*DIGIT_WORDS, *_TEENS, *_TENS, *_LONG,
                                            "hundred", "thousand", "half", "quarter", "couple", "few", "dozen",
                                            "max", "maximum", "minimum", "full", "all the way", "double"])
                     + r"|(?:second|sec|minute|min|hour|hr)s?)\b", re.IGNORECASE)


# The top or the bottom of a number's range, as people say it instead of a figure ("full brightness", "alarm volume
# all the way up", "as quiet as it goes"). "min" is not one ("10 min"), nor a bare "all the way" (up or down?).
_AS_FAR = r"as (?:{}) as (?:possible|it goes|it gets|it can go|you can)"
_TOP = re.compile(r"(?i:\b(?:full|max|maxed|maximum|highest|loudest|brightest|all the way up|"
                  + _AS_FAR.format("bright|loud|high|warm|hot") + r")\b)")
_BOTTOM = re.compile(r"(?i:\b(?:minimum|lowest|dimmest|quietest|all the way down|"
                     + _AS_FAR.format("dim|dark|low|quiet|soft|cold|cool") + r")\b)")
_FIGURE = re.compile(r"\d|\b(?:" + _words([*DIGIT_WORDS, *_TEENS, *_TENS, *_LONG, "hundred", "half", "halfway"])
                     + r")\b", re.IGNORECASE)


def _bounded(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") in ("integer", "number") and "minimum" in schema \
        and "maximum" in schema


def said_end(schema: Any, text: str) -> int | float | None:
    """The end of a bounded number's range that `text` names without a figure ("full", "all the way down"), or None:
    where both ends or a figure are said, the figure or the model decides."""
    if not _bounded(schema) or _FIGURE.search(text):
        return None
    top, bottom = _TOP.search(text) is not None, _BOTTOM.search(text) is not None
    return schema["maximum"] if top and not bottom else schema["minimum"] if bottom and not top else None


_SPAN = re.compile(rf"(?i:\b(?:(?P<half>half an?)|(?P<n>\d+|a couple of|an?(?: full)?|{_NUMBER_WORD}))"
                   rf" (?P<unit>seconds?|secs?|minutes?|mins?|hours?|hrs?)(?P<and_half> and a half)?\b)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def _only_span(value: str) -> bool:
    """Whether a value is a span of time and nothing else ("27 seconds"): `as_requested` reads it as the request's
    span, and `spent` drops the call that took it."""
    return _SPAN.fullmatch(value.strip()) is not None


def said_seconds(text: str) -> int | None:
    """The one span of time `text` gives ("a full minute", "two minutes", "half a minute", "a 15 second
    timeout"), in seconds; None where it gives none, or more than one (whose would it be?)."""
    said = list(_SPAN.finditer(text))
    if len(said) != 1:
        return None
    m = said[0]
    return round((_amount(m) + 0.5 * bool(m.group("and_half"))) * _UNIT_SECONDS[m.group("unit")[0].lower()])


def _seconds_of(schema: Any, value: Any) -> bool:
    """Whether `value` is a whole number of seconds by its argument's `schema`."""
    return isinstance(value, int) and not isinstance(value, bool) and isinstance(schema, dict) \
        and _in_seconds(schema, value)


def _in_seconds(schema: dict[str, Any], value: int) -> bool:
    """A number the spec counts in seconds ("seconds to wait for the connection"), `value` within its bounds."""
    return (schema.get("type") in ("integer", "number") and re.search(r"\bseconds?\b", str(schema.get("description")),
                                                                      re.IGNORECASE) is not None
            and schema.get("minimum", value) <= value <= schema.get("maximum", value))


# A number said on its own, in figures or words ("9", "eight", "seventy-four", "zero"): not a piece of a time, a date,
# an address or a phone number ("9:30", "7th", "v2.3", "+1 312"), nor a span of time or a share ("20 minutes", "50%").
_SAID_NUMBER = re.compile(rf"(?i:(?<![\w:./+-])(?P<n>\d+|zero|{_NUMBER_WORD})"
                          r"(?![\w:/'-]|[.,]\d|\s*(?:%|[ap]\.?m\b|o'?clock\b|(?:second|sec|minute|min|hour|hr|day|week)s?\b)))")


def said_number(schema: dict[str, Any], value: Any, text: str, others: list[Any]) -> int | None:
    """The one number `text` says within the bounded `schema`'s range, where the model's `value` is none of those it
    says: "ugh this glare is killing my eyes, brightness 1", "turn the brightness up to like eight" and "media vol 1
    and reply to Jasmine: …" came back level 10 (a 150-step model of the quickstart's recipe, 2026-12-06; SmolLM2
    writes "10" a digit at a time and went on past the "1"). The answer's `others` numbers are theirs, in figures or
    words ("turn off the ringer and lower the brightness to eight": the ringer's 0 stands). None where the model's
    number is said, or no number or several are ("mute the ringer": the model's 0 stands)."""
    if not _bounded(schema) or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    said = [_number(m.group("n")) for m in _SAID_NUMBER.finditer(text)]
    for other in others:
        if other in said:
            said.remove(other)
    fit = {n for n in said if schema["minimum"] <= n <= schema["maximum"]}
    return fit.pop() if value not in said and len(fit) == 1 else None


def as_requested(calls: list[tuple[dict[str, dict[str, Any]], dict[str, Any]]], query: str) -> list[dict[str, Any]]:
    """The arguments of an answer's calls (each with its function's properties), squared with what the request
    says outside the answer's values (every call's, so a message's words are not a news call's):
    - a language the request names, held by no value, goes to a call's left-out language argument: "any
      Japanese news stories about remote work" is topic "remote work", language Japanese, but a small model
      leaves the language to its default (14 failures in six evaluations of three quickstart models,
      2026-12-02). Only when the request names one language; languages only, as a time in a request may
      be a message's, while a language named beside a news request is the news';
    - an optional number or language with a default keeps it where the request gives none (no amount for a
      number, and a device called "MX Master 3" says none; no language named): any other value is made up.
      "connect my Echo Dot" gave timeout 60 for the default 10 in 3 of 8 evaluations of four quickstart
      models (2026-12-02); "top stories on Alzheimer's research" language es. A figure another number of the
      answer took is that number's: "connect to Pixel Buds Pro then set media volume to 6" had timeout 60
      beside level 6;
    - a number the spec counts in seconds is the one span of time the request gives, read into seconds: "try
      for a full minute" and "wait up to two minutes" were timeouts 10 and 20 from two quickstart models, each
      (2026-12-03) — the conversion a reader does, not a span to copy, as with 12-hour clocks;
    - the answer's one bounded number, where the request gives an end of its range and no figure, is that end
      (`said_end`): "Full brightness please" and "alarm volume all the way up ok?" were level 1 from the 150-step
      quickstart model of 45ad4d3 (SmolLM2 writes "10" a digit at a time and stopped after the "1");
    - a bounded number the request never says is the one number within its range that it does say beside the values
      and the other numbers (`said_number`): "brightness 1" had come back 10."""
    values = [v for _, arguments in calls for v in arguments.values() if isinstance(v, str)]
    rest = query  # a value that is only a span of time stays: "give it 27 seconds" had made a search of "27 seconds"
    for value in sorted([v for v in values if not _only_span(v)], key=len, reverse=True):
        rest = re.sub(_whole(value), " ", rest, flags=re.IGNORECASE)
    numbers = {(i, name): v for i, (_, arguments) in enumerate(calls) for name, v in arguments.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    figures = {key: _figure(v) for key, v in numbers.items() if _figure(v)}

    def beside(i: int, name: str) -> str:  # what the request says beside the values and other numbers
        left = rest
        for key, figure in figures.items():
            if key != (i, name):
                left = re.sub(_whole(figure), " ", left, count=1)
        return left

    seconds = said_seconds(rest)
    # An end of a range is read for the answer's one bounded number only: "brightness all the way up, and mute my
    # ringer" says the end of one of two, and which words go with which call is not known here.
    ends = sum(_bounded(schema) for properties, _ in calls for schema in properties.values()) == 1
    named = word_spans(query, _surface(LANGUAGE.surface).pattern)
    free = {span.casefold(): span for span in named
            if _count(query, span) > sum(_count(value, span) for value in values)}
    out = []
    for i, (properties, arguments) in enumerate(calls):
        settled = dict(arguments)
        for name, schema in properties.items():
            if not isinstance(schema, dict):
                continue
            found = kind_of(schema)
            language = found is not None and found[0] is LANGUAGE
            numeric = schema.get("type") in ("integer", "number")
            left = beside(i, name) if numeric else ""
            unsaid = not named if language else numeric and not _AMOUNT.search(left)
            if seconds is not None and _in_seconds(schema, seconds):
                settled[name] = seconds  # written or left out
            elif ends and (end := said_end(schema, left)) is not None:
                settled[name] = end  # written or left out
            elif name in arguments and (number := said_number(schema, arguments[name], left, [
                    v for (j, other), v in numbers.items() if (j, other) != (i, name)])) is not None:
                settled[name] = number
            elif name not in arguments:
                if language and len(free) == 1:
                    settled[name] = next(iter(free.values()))
            elif "default" in schema and unsaid:
                settled[name] = schema["default"]
        out.append(settled)
    return out


def _figure(value: float) -> str:
    """A number as a request writes it in figures ("5", "72", "2.5"); "" for one no request would."""
    if not abs(value) < 1e15:  # and not nan
        return ""
    return str(int(value)) if value == int(value) else f"{value:g}"


# What names a value in a request ("an alarm called take meds", "labeled Gym"), and how close after another value
# of its call it must come to be that call's: "for 7:15 am labeled Gym", "7pm alarm called …", not "set an alarm
# for 6 because I got called into work".
# "Name it …" ("13:05 alarm, label it laundry", "Can you set an alarm for 11pm? Name it Bedtime.", hand-written) says
# what "it" is called in a sentence of its own, so a comma or a stop may come between.
_NAMING = re.compile(rf"\b(?:{_NAMING_WORDS}|(?P<it>(?:{_NAMING_VERBS})\s+it))\s+", re.IGNORECASE)
_NAMING_GAP = re.compile(r"\s*(?:[^\W\d_]+\s+){0,2}")
_NAMING_IT_GAP = re.compile(r"[\s,.!?;:]*(?:[^\W\d_]+[\s,.!?;:]+){0,2}")
_NAMED_END = re.compile(r"[,;:.!?]")


def named_as(calls: list[tuple[dict[str, dict[str, Any]], dict[str, Any]]], query: str) -> list[dict[str, Any]]:
    """The arguments of an answer's calls, where a free-text argument left at its default takes the words the
    request names it with: "7pm alarm called take meds" and "Set an alarm for 7:15 am labeled Gym, then turn on
    do not disturb" kept the label "alarm" (the 150-step quickstart model of 45ad4d3, hand-written), as did "13:05
    alarm, label it laundry" (a 150-step model of 2026-12-06). Only right after a value of the same call (two words
    between at most, and for "name it …" a comma or a stop too), up to a comma, a joiner, the request's tail or
    another value's words, and for a call with one such argument (which would it be?)."""
    taken = [at for _, arguments in calls for v in arguments.values() if isinstance(v, str) and v.strip()
             for at in spans(v, query)]
    out = []
    for properties, arguments in calls:
        settled = dict(arguments)
        idle = [n for n, s in properties.items() if isinstance(s, dict) and is_free_text(s) and "default" in s
                and arguments.get(n, s["default"]) == s["default"]]
        own = [b for n, v in arguments.items() if n not in idle and isinstance(v, str) and v.strip()
               for _, b in spans(v, query)]
        for m in _NAMING.finditer(query) if len(idle) == 1 else ():
            gap = _NAMING_IT_GAP if m.group("it") else _NAMING_GAP
            if not any(gap.fullmatch(query[b:m.start()]) for b in own if b <= m.start()):
                continue
            stops = [j.start() for j in AFTER.finditer(query, m.end())] + [a for a, _ in taken if a >= m.end()]
            stop = _NAMED_END.search(query, m.end())
            end = min([*stops, stop.start() if stop else len(query), tail_at(query, m.end())])
            words = query[m.end():end].strip()
            if _WORD.search(words) and not any(a < end and b > m.end() for a, b in taken):
                settled[idle[0]] = words
                break
        out.append(settled)
    return out


def in_turn(calls: list[tuple[dict[str, dict[str, Any]], dict[str, Any]]], query: str) -> list[dict[str, Any]]:
    """The arguments of an answer's calls, where calls of one function (one schema object) all took the same
    choice and the request names as many different ones, each once, take them in the order it says them: "ring
    volume to 0 and alarm volume to 8" came back as two ring volumes (three hand-written requests, the quickstart
    model of 2026-12-07: the generator never asks one function twice, so the model copies the first call's
    choice). Choices said as words of their own, outside the calls' free-text values and before the request's
    tail, and none inside a longer word ("ringer": whose is it?); a labelled request's answer never changes."""
    out = [dict(arguments) for _, arguments in calls]
    end = tail_at(query)
    held = [_held(properties, arguments, query) for properties, arguments in calls]
    for properties in {id(p): p for p, _ in calls}.values():
        group = [k for k, (p, _) in enumerate(calls) if p is properties]
        for name, schema in properties.items() if len(group) > 1 else ():
            options = schema.get("enum") if isinstance(schema, dict) else None
            if not options or not all(isinstance(o, str) for o in options) \
                    or len({repr(out[k].get(name)) for k in group}) != 1:
                continue
            said = sorted((i, o) for o in options for i, j in spans(o, query)
                          if j <= end and not any(h(i, j) for h in held))
            inside = any(re.search(rf"\w{re.escape(o)}|{re.escape(o)}\w", query, re.IGNORECASE) for o in options)
            if not inside and len(said) == len(group) == len({o for _, o in said}):
                for k, (_, option) in zip(group, said, strict=True):
                    out[k][name] = option
    return out


def apart(calls: list[tuple[dict[str, dict[str, Any]], dict[str, Any]]], query: str) -> list[dict[str, Any]]:
    """The arguments of an answer's calls, where a free-text value ran on over a joiner into words another call
    took, ended before that joiner: "msg Giulia: it's done, then i want to add Ngozi to my contacts, …" came back
    with the message "it's done, then i want to add Ngozi" beside a contact "Ngozi" (the quickstart model of
    2026-12-05). Two calls never take the same words; only words said once, and only across a joiner (`AFTER`),
    so a message that names what another call says elsewhere keeps it."""
    placed = [_said_once(arguments, query) for _, arguments in calls]
    out = []
    for i, (properties, arguments) in enumerate(calls):
        settled = dict(arguments)
        for name, (start, end) in placed[i].items():
            if not (isinstance(properties.get(name), dict) and is_free_text(properties[name])):
                continue
            inside = [c for j, mine in enumerate(placed) if j != i for c, d in mine.values() if start < c and d <= end]
            joints = [m.start() for m in AFTER.finditer(query, start, min(inside, default=start))]
            if joints and _WORD.search(query[start:joints[-1]]):
                settled[name] = query[start:joints[-1]]
        out.append(settled)
    return out


def piece_of(call: dict[str, Any], other: dict[str, Any], query: str) -> bool:
    """Whether `call` (name and arguments) is a piece of `other`, the same function's: every argument the
    same but for at least one text value that the request says only inside `other`'s ("play Hit Me Hard and
    Soft on Amazon Music" answered with a second call of `music_name=' Soft'`, the title split at its "and":
    the quickstart models of 2026-12-04). Words the request says nowhere else are no request of their own;
    two texts with the same message ("text Bob and Alice I'm late") are not pieces, nor is a title the
    request also says alone."""
    mine, theirs = call["arguments"], other["arguments"]
    if call["name"] != other["name"] or mine.keys() != theirs.keys():
        return False
    cut = False
    for name, value in mine.items():
        if value == theirs[name]:
            continue
        if not (isinstance(value, str) and isinstance(theirs[name], str)):
            return False
        inside, around = spans(value, query), spans(theirs[name], query)
        if not inside or not all(any(a <= i and j <= b and (a, b) != (i, j) for a, b in around) for i, j in inside):
            return False
        cut = True
    return cut


def echo_of(call: dict[str, Any], others: list[dict[str, Any]], properties: dict[str, dict[str, Any]],
            query: str) -> bool:
    """Whether `call` only repeats words that another call of the answer took: each of its free-text values (two or
    more) is a value of a call that also took words of its own, said once in the request. A route from and to the e-mail
    address the request gives ("… and it goes to joao28@company.co.uk" answered with an e-mail and a route
    `origin=destination='joao28@…'`), a second route "from the farmers market to the farmers market": no
    request of their own. Words said twice may be two requests' ("weather in Paris and news about Paris")."""
    free = free_texts(properties, call["arguments"])
    if len(free) < 2:  # one value that another call took too: which call took it wrongly is open (`joins`)
        return False
    mine = {v.casefold() for v in free}
    for other in others:
        theirs = {v.casefold() for v in other["arguments"].values() if isinstance(v, str)}
        if all(v.casefold() in theirs and len(spans(v, query)) == 1 for v in free) and \
                any(v.casefold() not in mine and spans(v, query)
                    for v in other["arguments"].values() if isinstance(v, str) and v.strip()):
            return True
    return False


def idle_twin(call: dict[str, Any], others: list[dict[str, Any]], properties: dict[str, dict[str, Any]],
              query: str) -> bool:
    """Whether `call` is a second call of another's function made of values the request does not say — its
    defaults, or numbers it never gives — beside one that says its own: "open the front camera and snap a pic"
    answered with a front photo and then a back one (2 of the 400 held-out and 2 of the 575 hand-written
    requests, the quickstart model of 2026-12-04), "lower the screen brightness to 2, it's late and my eyes are
    tired" with level 2 and then level 0 (a fresh hand-written set, the model of 2026-12-05). A second photo,
    volume or switch a request asks for is said ("one with the front and one with the back camera")."""
    twins = [o for o in others if o["name"] == call["name"] and o != call]  # first: most answers have none
    return bool(twins) and bool(call["arguments"]) and _idle(call["arguments"], properties, query) \
        and any(not _idle(twin["arguments"], properties, query) for twin in twins)


def _idle(arguments: dict[str, Any], properties: dict[str, dict[str, Any]], query: str) -> bool:
    """Whether every value is one the request does not say: an unsaid default, or a number it never gives."""
    said = {_number(m.group()) for m in re.finditer(rf"(?i:\b(?:\d+|{_NUMBER_WORD})\b)", query)}
    for name, value in arguments.items():
        default = isinstance(properties.get(name), dict) and properties[name].get("default", ...) == value
        if isinstance(value, str) and value.strip() and spans(value, query):
            return False
        if not default and not (isinstance(value, int) and not isinstance(value, bool) and value not in said):
            return False
    return True


def spent(calls: list[tuple[dict[str, dict[str, Any]], dict[str, Any]]], query: str) -> set[int]:
    """The calls (by index) whose every value is its default, an aside or a clock another call took, said once in
    the request, beside another call with words of its own: the alarm at "2:30PM" that stood for an event's end
    (`ended`). A clock only: "save Kwame +233 24 123 4567 and call him" says one number for two calls. Or a span of
    time that another call's seconds took (`as_requested`): "Link my phone with Tile tracker and give it 27 seconds"
    had a search for "27 seconds" beside a timeout of 10 (2 of the 400 held-out requests, the quickstart model of
    2026-12-04) — and the seconds that span gave both calls are the other call's too: the same request came back
    as two pairings, "Tile tracker" and "27 seconds", each with timeout 27 (the model of 2026-12-05).
    Politeness or urgency ("I'm in a hurry", "thanks in advance": `asides.TAIL_WORDS` only) is no call's words,
    and a text another call took, said once, counts as neither its own nor spent: "find youtube clips of 3 days
    in Rome, I'm in a hurry" had a second search for "I'm in a hurry", "Link my phone with Pixel Watch 3 and give
    it 73 seconds" a text to "Pixel Watch 3" saying "73 seconds", "call plus three three, …, thanks in advance" a
    text to the number's words saying "thanks in advance" (3 of the 400 held-out requests, the quickstart model of
    2026-12-05). A text that another call took, alone, stays ("show Ted Lasso from Peacock and search youtube")."""
    said = said_seconds(query)

    def own(i: int) -> list[bool | None]:  # per value: None a default or another's text, True words no other took
        properties, arguments = calls[i]  # a call said again word for word is one call (`parse` keeps it once)
        others = [(k, v, schema) for schema, other in calls if (schema, other) != calls[i] for k, v in other.items()]
        taken = {v.casefold() for _, v, _ in others if isinstance(v, str)}
        seconds = {v for k, v, schema in others if _seconds_of(schema.get(k), v)}

        def mark(k: str, v: Any) -> bool | None:
            schema = properties.get(k)
            if isinstance(schema, dict) and schema.get("default") == v:
                return None
            free = isinstance(v, str) and isinstance(schema, dict) and is_free_text(schema)
            if free and set(words := re.findall(r"[\w']+", v.casefold())) <= TAIL_WORDS and words:
                return False
            once = isinstance(v, str) and len(spans(v, query)) == 1
            if once and free and v.casefold() in taken:
                return None
            return not (once and (v.casefold() in taken and _is_clock(schema) or _only_span(v) and said_seconds(v)
                                  in seconds) or v == said and v in seconds and _seconds_of(schema, v))

        return [mark(k, v) for k, v in arguments.items()]

    marks = [own(i) for i in range(len(calls))]
    return {i for i, mine in enumerate(marks) if False in mine and True not in mine
            and any(True in theirs for j, theirs in enumerate(marks) if j != i)}


def _whole(words: str) -> str:
    """A pattern for `words` standing whole, not inside longer words."""
    return rf"(?<!\w){re.escape(words)}(?!\w)"


def spans(value: str, query: str) -> list[tuple[int, int]]:
    """Every place where `query` says `value` whole, in any case, with its own spacing."""
    return [m.span() for m in re.finditer(_whole(" ".join(value.split())), query, re.IGNORECASE)]


def _count(text: str, words: str) -> int:
    return len(re.findall(_whole(words), text, re.IGNORECASE))


def word_spans(query: str, pattern: str) -> list[str]:
    """Every run of the query's words that `pattern` matches whole: "7", "7:30" and "7:30 pm" of "wake me at
    7:30 pm". All of them, not one match per start: a regex match takes the first alternative that fits,
    and a spec's canonical `[01][0-9]:[0-5][0-9]` read "11:55" of "11:55 PM", so the training target was the
    converted "23:55" (24 of 601 times), which the call format exists to spare the model."""
    kind = _compiled(pattern)
    if kind is None:
        return []
    starts = [i for i in range(len(query))
              if (i == 0 or not query[i - 1].isalnum()) and not query[i].isspace() and kind.match(query, i)]
    ends = [j for j in range(1, len(query) + 1) if (j == len(query) or not query[j].isalnum())
            and not query[j - 1].isspace()]
    return sorted({query[i:j] for i in starts for j in ends
                   if i < j <= i + VALUE_CHARS and kind.fullmatch(query, i, j)})


@lru_cache(maxsize=8)
def _surface(pattern: str) -> re.Pattern[str]:
    """A kind's words without their group names (a date-time holds the clock's groups twice): for matching
    in a query, and as the grammar's text."""
    return re.compile(_NAMES.sub("(?:", pattern))


def _day(schema: dict[str, Any], value: Any) -> dt.date | None:
    """The day a canonical date or date-time value names (None for other kinds or values)."""
    found = kind_of(schema)
    if found is None or found[0].name not in ("datetime", "date") or not isinstance(value, str):
        return None
    try:
        return dt.datetime.strptime(value, found[1]).date()
    except ValueError:
        return None


def said(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str,
         today: dt.date | None = None) -> dict[str, Any]:
    """The arguments as the training target writes them: each value of a kind replaced by the words of the
    `query` that normalise to it (the longest such span), where there are any."""
    out, canonical = dict(arguments), normalise_call(properties, arguments, today)
    previous = None
    for name, schema in properties.items():
        found = kind_of(schema)
        if name not in arguments or found is None or not isinstance(arguments[name], str):
            continue
        for span in sorted(word_spans(query, surface_pattern(schema) or "(?!)"), key=len, reverse=True):
            if normalise(schema, span, previous, today) == canonical[name]:
                out[name] = span
                break
        previous = _day(schema, canonical[name]) or previous
    return out
