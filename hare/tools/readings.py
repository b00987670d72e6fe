"""One call's values read against the words of the request they answer.

A small model copies a value a little short or long of what the user meant: a clock without its date ("6:30 pm"
of "on January 20 … at 6:30 pm"), a message that stops at a mark or runs on into the next request's words, a
title that took its "the". Each function here squares one such slip with the request, a deterministic step
tested on the requests that showed it (`from_query` applies them in order; `hare.tools.calls` calls it on every
parsed call). Values of a kind (times, dates, phone numbers, languages) are read by `hare.tools.surface`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from hare.tools.asides import AFTER, JOINING_WORDS, SUFFIXES, TAIL_WORDS, set_off
from hare.tools.spec import VALUE_CHARS, is_free_text
from hare.tools.spelling import slip_of
from hare.tools.surface import (
    DATE,
    DIGIT_WORDS,
    DURATION_TENS,
    LANGUAGE,
    TEENS,
    TENS,
    UNITS,
    alternation,
    free_texts,
    kind_of,
    moment_in,
    normalise,
    normalise_call,
    spans,
    surface_pattern,
    surface_regex,
    word_spans,
    worded_number,
    words_pattern,
)


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


def held_in_values(properties: dict[str, dict[str, Any]], arguments: dict[str, Any],
                   query: str) -> Callable[[int, int], bool]:
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
    held = held_in_values(properties, arguments, query)
    dates = [m for m in re.finditer(rf"(?<!\w)(?:{surface_regex(DATE).pattern})(?!\w)", query) if not held(*m.span())]
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
    for name, (start, end) in said_once(arguments, query).items():
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


def said_once(arguments: dict[str, Any], query: str) -> dict[str, tuple[int, int]]:
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
    placed = said_once(arguments, query)
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
        words, surface = " ".join(value.split()), surface_regex(found[0].surface)
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
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_UNSAYABLE = re.compile(r"[\\<\x00-\x1f\x7f]")  # what no value the grammar admits holds: a control token's "<"


def said_choice(properties: dict[str, dict[str, Any]], arguments: dict[str, Any], query: str) -> dict[str, Any]:
    """A choice the request names is the one it makes: "door lock now" came back `status='open'` and "now mue
    media" `volume_type='alarm'` (a fresh hand-written set and the held-out requests, the quickstart model of
    2026-12-05). Where the request says one of an argument's enum values as a word of its own, and not the one
    the model chose, that one is taken: not in a value's words ("text Bob I'm back"), nor in the request's tail
    ("…, I'm driving"), nor where a value is said inside a longer word too ("unlock the smart lock": whose
    "lock"?), nor over a default, which the model answers when the request names no choice ("the front door").
    Of the 2,160 labelled one-call requests with a choice, the reading changes none."""
    end, held, out = tail_at(query), held_in_values(properties, arguments, query), dict(arguments)
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
        if (WORD.search(said) or _pictures(said)) and not _FRAME.search(said) and not _UNSAYABLE.search(said) and \
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
        if WORD.search(kept) and not _ASKS.match(_CLAUSE.split(kept)[-1]):
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
    last = max((since + m.end() for m in WORD.finditer(query[since:]) if m.group().lower() not in TAIL_WORDS),
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
_UNSET = [s for s in SUFFIXES if not s.startswith(",") and WORD.search(s)]


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
    cuts = [at for at in reached if at < end and WORD.search(query[start:at])]
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
    for name, (start, end) in said_once(arguments, query).items():
        if not (isinstance(properties.get(name), dict) and is_free_text(properties[name])):
            continue
        value, cut = arguments[name], tail_at(query, start)
        kept = query[start:cut].rstrip()
        if len(kept) < end - start and WORD.search(kept) and _bare(query[cut:end]) in _SET_OFF:
            out[name] = kept
        elif not _SENT.search(str(properties[name].get("description", ""))) \
                and (bare := _unset_tail(query, start, end)) is not None:
            out[name] = bare
        elif _TOPIC.search(str(properties[name].get("description", ""))) and (when := _WHEN.search(value)) \
                and WORD.search(value[:when.start()]) and not WORD.search(query[end:tail_at(query, end)]):
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
NAMING_WORDS, NAMING_VERBS = r"called|named|labell?ed|titled", r"call|name|label|title"
# They are never a label's or title's first words ("Named Entity workshop" is a title: a lone word only in lower
# case); and how such an argument is described.
_NAMING_LEAD = re.compile(rf"(?:{NAMING_WORDS}|(?i:{NAMING_VERBS})\s+it)\s+(?=\w)")
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
        if (m := _CALLED.search(value.rstrip())) and WORD.search(value[:m.start()]):
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
    placed = said_once(arguments, query)
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
    placed = said_once(arguments, query)
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
            spoken = [w.lower() for w in WORD.findall(phrase.group())]
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


NUMBER_WORD = (rf"(?:(?:{alternation([*TENS, *DURATION_TENS])})(?:[ -](?:{alternation(UNITS)}))?"
               rf"|{alternation([*TEENS, *UNITS])})")
_DURATION = re.compile(rf"(?i:\bfor (?:(?P<half>half an?)|(?P<n>\d+(?:\.\d+)?|an?|a couple of|{NUMBER_WORD}))"
                       rf" (?P<unit>hours?|hrs?|minutes?|mins?)(?: and a (?P<and_half>half)"
                       rf"|,? (?:and )?(?P<n2>\d+|{NUMBER_WORD}) (?:minutes?|mins?))?)\b")


def _amount(m: re.Match[str]) -> float:
    """How many units a span of time says (`_DURATION`, `_SPAN`): "half a(n)", figures, "a", "an", "a full",
    "a couple of" or number words."""
    if m.group("half"):
        return 0.5
    n = m.group("n").lower()
    return float(n) if n[0].isdigit() else 2 if n == "a couple of" else 1 if n.startswith("a") else worded_number(n)


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
        minutes += int(m.group("n2")) if m.group("n2").isdigit() else worded_number(m.group("n2"))
    for (a, layout_a), (b, layout_b) in itertools.pairwise(clocks):
        start, end = moment_in(canonical[a], layout_a), moment_in(canonical[b], layout_b)
        copied = spans(str(arguments[b]), query)
        inside = bool(copied) and all(m.start() <= i and j <= m.end() for i, j in copied)
        if start is not None and (start == end or inside) and minutes > 0:
            out[b] = (start + dt.timedelta(minutes=minutes)).strftime(layout_b)
    return out


def is_clock(schema: Any) -> bool:
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
              if name in arguments and is_clock(schema)]
    if len(clocks) < 2:  # most calls: nothing to normalise
        return arguments
    canonical, out = normalise_call(properties, arguments), dict(arguments)
    for (a, layout_a), (b, layout_b) in itertools.pairwise(clocks):
        end = moment_in(canonical[b], layout_b)
        if end is None or moment_in(canonical[a], layout_a) != end or not isinstance(arguments[b], str) \
                or len(at := spans(arguments[b], query)) != 1 or not (lead := _UNTIL.search(query, 0, at[0][0])):
            continue
        before = query[:lead.start()].rstrip()
        said = [w for w in word_spans(before, surface_pattern(properties[a]) or "(?!)") if before.endswith(w)]
        if not said:
            continue
        start = max(said, key=len)
        moved = normalise_call(properties, arguments | {a: start})
        begin, finish = moment_in(moved[a], layout_a), moment_in(moved[b], layout_b)
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
    clocks = [(name, schema) for name, schema in properties.items() if name in arguments and is_clock(schema)]
    if len(clocks) < 2:  # most calls: nothing to normalise
        return arguments
    canonical, out = normalise_call(properties, arguments), dict(arguments)
    for (a, _), (b, schema_b) in itertools.pairwise(clocks):
        if not isinstance(arguments[a], str) or len(at := spans(arguments[a], query)) != 1:
            continue
        layout = kind_of(schema_b)[1]  # type: ignore[index]
        start, after = moment_in(canonical[a], layout), at[0][1]
        if start is None or (was := moment_in(canonical[b], layout)) is None or was > start:
            continue
        later: dict[dt.datetime, list[str]] = {}
        said = word_spans(query[after:], surface_pattern(schema_b) or "(?!)")
        for words in [w for w in said if not any(w != longer and w in longer for longer in said)]:  # "2" of "2:30"
            if not any(_UNTIL.search(query, 0, i) for i, _ in spans(words, query) if i >= after):
                continue
            end = moment_in(normalise_call(properties, arguments | {b: words})[b], layout)
            if end is not None and end > start:
                later.setdefault(end, []).append(words)
        if len(later) == 1:
            out[b] = max(next(iter(later.values())), key=len)
    return out


# Words that give an amount: figures, number words, and the units and fractions an amount is said in ("give it
# a minute", "half an hour", "max"): where a request has none of them, it gives no number.
AMOUNT = re.compile(r"\d|\b(?:" + alternation([*DIGIT_WORDS, *TEENS, *TENS, *DURATION_TENS,
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
_FIGURE = re.compile(r"\d|\b(?:" + alternation([*DIGIT_WORDS, *TEENS, *TENS, *DURATION_TENS, "hundred", "half",
                                                 "halfway"])
                     + r")\b", re.IGNORECASE)


def is_bounded(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") in ("integer", "number") and "minimum" in schema \
        and "maximum" in schema


def said_end(schema: Any, text: str) -> int | float | None:
    """The end of a bounded number's range that `text` names without a figure ("full", "all the way down"), or None:
    where both ends or a figure are said, the figure or the model decides."""
    if not is_bounded(schema) or _FIGURE.search(text):
        return None
    top, bottom = _TOP.search(text) is not None, _BOTTOM.search(text) is not None
    return schema["maximum"] if top and not bottom else schema["minimum"] if bottom and not top else None


_SPAN = re.compile(rf"(?i:\b(?:(?P<half>half an?)|(?P<n>\d+|a couple of|an?(?: full)?|{NUMBER_WORD}))"
                   rf" (?P<unit>seconds?|secs?|minutes?|mins?|hours?|hrs?)(?P<and_half> and a half)?\b)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def only_span(value: str) -> bool:
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


def seconds_of(schema: Any, value: Any) -> bool:
    """Whether `value` is a whole number of seconds by its argument's `schema`."""
    return isinstance(value, int) and not isinstance(value, bool) and isinstance(schema, dict) \
        and in_seconds(schema, value)


def in_seconds(schema: dict[str, Any], value: int) -> bool:
    """A number the spec counts in seconds ("seconds to wait for the connection"), `value` within its bounds."""
    return (schema.get("type") in ("integer", "number") and re.search(r"\bseconds?\b", str(schema.get("description")),
                                                                      re.IGNORECASE) is not None
            and schema.get("minimum", value) <= value <= schema.get("maximum", value))


# A number said on its own, in figures or words ("9", "eight", "seventy-four", "zero"): not a piece of a time, a date,
# an address or a phone number ("9:30", "7th", "v2.3", "+1 312"), nor a span of time or a share ("20 minutes", "50%").
_SAID_NUMBER = re.compile(rf"(?i:(?<![\w:./+-])(?P<n>\d+|zero|{NUMBER_WORD})"
                          r"(?![\w:/'-]|[.,]\d|\s*(?:%|[ap]\.?m\b|o'?clock\b|(?:second|sec|minute|min|hour|hr|day|week)s?\b)))")


def said_number(schema: dict[str, Any], value: Any, text: str, others: list[Any]) -> int | None:
    """The one number `text` says within the bounded `schema`'s range, where the model's `value` is none of those it
    says: "ugh this glare is killing my eyes, brightness 1", "turn the brightness up to like eight" and "media vol 1
    and reply to Jasmine: …" came back level 10 (a 150-step model of the quickstart's recipe, 2026-12-06; SmolLM2
    writes "10" a digit at a time and went on past the "1"). The answer's `others` numbers are theirs, in figures or
    words ("turn off the ringer and lower the brightness to eight": the ringer's 0 stands). None where the model's
    number is said, or no number or several are ("mute the ringer": the model's 0 stands)."""
    if not is_bounded(schema) or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    said = [worded_number(m.group("n")) for m in _SAID_NUMBER.finditer(text)]
    for other in others:
        if other in said:
            said.remove(other)
    fit = {n for n in said if schema["minimum"] <= n <= schema["maximum"]}
    return fit.pop() if value not in said and len(fit) == 1 else None
