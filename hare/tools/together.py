"""The calls of one answer read together, and against the request's words outside their values.

A request can name a language, a number or a label that no call took (`as_requested`, `named_as`, `in_turn`), and
an answer can hold a call that is only a piece of another's words ("play Hit Me Hard and Soft" split at its "and":
`piece_of`), an echo of them (`echo_of`), a twin made of unsaid defaults (`idle_twin`) or one spent by another
call's values (`spent`). `hare.tools.calls` applies these after each call's own values are read
(`hare.tools.readings`).
"""

from __future__ import annotations

import re
from typing import Any

from hare.tools.asides import AFTER, TAIL_WORDS
from hare.tools.readings import (
    AMOUNT,
    NAMING_VERBS,
    NAMING_WORDS,
    NUMBER_WORD,
    WORD,
    held_in_values,
    in_seconds,
    is_bounded,
    is_clock,
    only_span,
    said_end,
    said_number,
    said_once,
    said_seconds,
    seconds_of,
    tail_at,
)
from hare.tools.spec import is_free_text
from hare.tools.surface import (
    LANGUAGE,
    free_texts,
    kind_of,
    spans,
    surface_regex,
    times_said,
    whole_words,
    word_spans,
    worded_number,
)


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
    for value in sorted([v for v in values if not only_span(v)], key=len, reverse=True):
        rest = re.sub(whole_words(value), " ", rest, flags=re.IGNORECASE)
    numbers = {(i, name): v for i, (_, arguments) in enumerate(calls) for name, v in arguments.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    figures = {key: _figure(v) for key, v in numbers.items() if _figure(v)}

    def beside(i: int, name: str) -> str:  # what the request says beside the values and other numbers
        left = rest
        for key, figure in figures.items():
            if key != (i, name):
                left = re.sub(whole_words(figure), " ", left, count=1)
        return left

    seconds = said_seconds(rest)
    # An end of a range is read for the answer's one bounded number only: "brightness all the way up, and mute my
    # ringer" says the end of one of two, and which words go with which call is not known here.
    ends = sum(is_bounded(schema) for properties, _ in calls for schema in properties.values()) == 1
    named = word_spans(query, surface_regex(LANGUAGE.surface).pattern)
    free = {span.casefold(): span for span in named
            if times_said(query, span) > sum(times_said(value, span) for value in values)}
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
            unsaid = not named if language else numeric and not AMOUNT.search(left)
            if seconds is not None and in_seconds(schema, seconds):
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
_NAMING = re.compile(rf"\b(?:{NAMING_WORDS}|(?P<it>(?:{NAMING_VERBS})\s+it))\s+", re.IGNORECASE)
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
            if WORD.search(words) and not any(a < end and b > m.end() for a, b in taken):
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
    held = [held_in_values(properties, arguments, query) for properties, arguments in calls]
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
    placed = [said_once(arguments, query) for _, arguments in calls]
    out = []
    for i, (properties, arguments) in enumerate(calls):
        settled = dict(arguments)
        for name, (start, end) in placed[i].items():
            if not (isinstance(properties.get(name), dict) and is_free_text(properties[name])):
                continue
            inside = [c for j, mine in enumerate(placed) if j != i for c, d in mine.values() if start < c and d <= end]
            joints = [m.start() for m in AFTER.finditer(query, start, min(inside, default=start))]
            if joints and WORD.search(query[start:joints[-1]]):
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
    said = {worded_number(m.group()) for m in re.finditer(rf"(?i:\b(?:\d+|{NUMBER_WORD})\b)", query)}
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
        seconds = {v for k, v, schema in others if seconds_of(schema.get(k), v)}

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
            return not (once and (v.casefold() in taken and is_clock(schema) or only_span(v) and said_seconds(v)
                                  in seconds) or v == said and v in seconds and seconds_of(schema, v))

        return [mark(k, v) for k, v in arguments.items()]

    marks = [own(i) for i in range(len(calls))]
    return {i for i, mine in enumerate(marks) if False in mine and True not in mine
            and any(True in theirs for j, theirs in enumerate(marks) if j != i)}
