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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hare.tools.spec import VALUE_CHARS, is_free_text

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
_HOURS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
UNITS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
          "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
DURATION_TENS = {"sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}  # a duration's tens, never a clock's minutes
_WORTH = {word: i for i, word in enumerate(UNITS, 1)} | TEENS | TENS | DURATION_TENS


def alternation(values: list[str]) -> str:
    return "|".join(sorted(values, key=len, reverse=True))  # longest first: "eleven" before "one"


_MONTH = "(?:" + alternation(MONTHS + [m[:3] for m in MONTHS] + ["sept"]) + r")\.?"
_HOUR = rf"(?:2[0-3]|[01]?[0-9]|{alternation(_HOURS)})"  # "20" before "2"
_MINUTE_WORD = (rf"(?:oh[ -](?:{alternation(UNITS)})|{alternation(list(TEENS))}|"
                rf"(?:{alternation(list(TENS))})(?:[ -](?:{alternation(UNITS)}))?)")
_HALF = r"(?:am|pm|a\.m\.|p\.m\.)"
_DAYPART = r"(?:(?:in the |this |tomorrow )?(?:morning|afternoon|evening)|at night|tonight)"
_MINUTES = rf"(?:half|quarter|[1-5]?[0-9] minutes?|{_MINUTE_WORD}(?: minutes?)?)"
# Named groups for reading; the grammar uses the same text with the names taken out.
_HOUR12 = rf"(?:1[0-2]|0?[1-9]|{alternation(_HOURS)})"  # with am/pm: "20 pm" is no clock
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
_WEEKDAY = "(?:" + alternation([d + "day" for d in _WEEKDAYS]) + "|" + _SHORT_DAYS + ")"
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
_DIGIT_WORD = "(?:" + alternation(list(DIGIT_WORDS)) + ")"
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
LANGUAGE = Kind("language", "(?i:" + alternation([n for names in LANGUAGES.values() for n in names]) + ")",
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
    return None if found is None else surface_regex(found[0].surface).pattern


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


def worded_number(words: str) -> int:
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
        minutes = {"half": 30, "quarter": 15}.get(offset) or worded_number(re.sub(r" minutes?$", "", offset))
        total = hour * 60 + (minutes if m.group("direction").lower() in ("past", "after") else -minutes)
        hour, minute = divmod(total % (24 * 60), 60)
        half = m.group("half1") or m.group("part1")
    else:
        twelve = "12" if m.group("hour12") else ""
        hour = _hour(m.group("hour" + twelve))
        minute = m.group("minute" + twelve)
        minute = int(minute) if minute else worded_number(m.group("minute_word" + twelve) or "0")
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
        start, end = moment_in(out[a], layout_a), moment_in(out[b], layout_b)
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


def moment_in(value: Any, layout: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, layout) if isinstance(value, str) else None
    except ValueError:
        return None


def whole_words(words: str) -> str:
    """A pattern for `words` standing whole, not inside longer words."""
    return rf"(?<!\w){re.escape(words)}(?!\w)"


def spans(value: str, query: str) -> list[tuple[int, int]]:
    """Every place where `query` says `value` whole, in any case, with its own spacing."""
    return [m.span() for m in re.finditer(whole_words(" ".join(value.split())), query, re.IGNORECASE)]


def times_said(text: str, words: str) -> int:
    return len(re.findall(whole_words(words), text, re.IGNORECASE))


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
def surface_regex(pattern: str) -> re.Pattern[str]:
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
