"""Two requests in one sentence: a second request that the first call's value swallowed, that the answer dropped,
or whose words two calls took; and two values of one call that took the same words.

A small tool model reads "text Jake that I'm outside and then unlock the door" as one message, "I'm outside and
then unlock the door", because messages do hold "and then" ("I said pizza's here and then I'm on the train");
and it answers "take a selfie and text Noor I just got my haircut" with the selfie alone. Both show in the
two-call requests people write (hand-written: 11 of 26 failures), and weighting two-call requests up in
training (5x) left them. So after the answer, where a request may go on past it, the decoder asks the model
again, in four ways, and keeps a second call only when the model's answers agree with each other:

- swallowed: a free-text value runs over a joiner ("and then", ", then", "and", ";", "also", …). The value is
  closed at the joiner (the model picks the closing token, then goes on as it likes); the result is kept when
  it has more calls than before and the calls after the cut value are exactly what the model answers for the
  rest of the request on its own ("unlock the door").
- led: a free-text value said right after a joiner ("set an alarm for 05:50 and set the alarm volume to 9" gave the
  label "set the alarm volume"): the words before the joiner and those after it are answered alone, and kept
  when the first get the answer's functions and the second others (+1 hand-written, none lost).
- dropped: a joiner comes after every value the calls copied (after its first saying: "create an event Book club
  … and email … subject Book club"). The result is the model's answer for the words before the joiner plus its
  answer for the words after it, kept when the words before it, on their own, get the answer's functions with
  the same words; their numbers and choices are taken ("connect to Bose QuietComfort 45 and turn media volume
  to 4" gave timeout 40 from the "4", so the words alone, timeout 10, had not matched: +1 hand-written). Or a
  joiner comes before every value ("Can u tet Ethan Nakamura I am so proud of you, and then watch Inception …
  via Crunchyroll" answered with the video alone): the same, the parts' roles swapped, and kept only when the
  new calls' texts hold a word (not "an" of "hi, I need to send an email. to …").
- collided: two calls of different functions take the same words, said once ("show Ted Lasso from Peacock …
  and after that search the youtube app for French for travelers" gave the video "French for travelers" too).
  Each part of the request, split at a joiner between the words only the first call took and those only the
  second took, is answered on its own; the parts' answers are kept when they make as many calls and share no
  words. Measured 2026-12-04 on a quickstart model: +3 exact of its 400 held-out, +2 of the 440 hand-written,
  none lost (of 617 other held-out two-part requests, 4 that a batch answered differently answer alike one at a
  time). The parts may call other functions than the answer did: "crank up Miles Davis on the nest hub usinng
  Audiomack, then shoot Ana a msg saying where are you?" was a video of "Where are you?" and is music alone (+2
  of 1,120 other held-out two-part requests, none lost; requiring the same functions had kept the answer).

And three looks that are not for a second request, taken first:
- misfiled: a phone number or an e-mail address said whole as a free-text value ("connect me to +34 314 796163" gave
  a Bluetooth device of that name) where another function takes it in an argument of its own: the answer is decoded
  again from that call's functional token, the token barred, and kept when the value then fills such an argument.
- unasked: one function called twice, the second time for words after a joiner that, answered alone, ask for
  nothing ("look for box breathing on youtube and show me what comes up" had a second search "what comes up"):
  the second call goes. Measured 2026-12-04 on a quickstart model, one request at a time where a batch differed:
  +7 exact of 1,120 other held-out two-part requests, none lost; its 400 held-out and the 575 hand-written requests
  unchanged. Not for two functions: alone, "text Dad I called the bank" gets no call from a small model, though
  after "call +1 617 555 0123 and then" it gets the text it asks for (3 hand-written two-call requests lost).
- repeated: two free-text values of one call are the same words, which the request says once ("… use New design
  mockups as the subject and write The shipment arrived damaged" gave both the title and the body "The shipment
  arrived damaged"; "text Noor I just got my haircut", contact and message "Noor I just got my haircut"). The
  answer is decoded again from where the first of them opened, its first token barred, then from the second's;
  kept when it calls the same functions and no longer repeats (`readings.give_way` then parts the contact from
  the message). Measured 2026-12-04 on a quickstart model, one request at a time where a batch differed: +2
  exact of its 400 held-out, +2 of the 440 hand-written, +4 of 1,120 other held-out two-part requests, none lost.

In the first two ways a second call of a function the answer already calls is not added: a part of a request
that names it again is mostly a piece of that request ("play Hit Me Hard and Soft on Amazon Music", "the smoke
alarm keeps chirping, can you check on it").

A comma alone is no joiner here: "lower the music volume to 2, it's too loud", "photos attached!, would you?"
gave made-up second calls. Measured 2026-12-03 on two quickstart tool models (each against its own weights
without the second look): the 440 hand-written requests, 7 more exact calls on each and none lost (two-call
exact 77.6 % → 91.8 % and 67.3 % → 81.6 %); on the first, the 2,557 generated held-out requests, 13 more and one
lost ("… I love them and I'll see them in the morning" became a weather call for "morning"); the quickstart's 400
of them, no exact call changed. Each look is a decode or two of a part of the request, run only where a joiner
follows the answer's values or sits inside one, or where a call repeats its own words.

The look is written as a generator (`second_look`) that yields the decodes it needs and is sent their answers,
so that a batch runs them as rows of its own passes (`hare.tools.decoder.Rows`): one at a time between the
batch's passes, they took 40 % of `hare tools eval`'s time on 2 cores. `second_request` runs it call by call.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol

from hare.model.tokenizer import API_END, functional_token
from hare.tools.asides import AFTER, INSIDE
from hare.tools.calls import Call, normalize, parse, render
from hare.tools.grammar import MAX_CALLS, CallGrammar, calls_opened, last_value
from hare.tools.spec import formats
from hare.tools.surface import free_texts, kind_of, normalise, said, spans

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

    from hare.tools.spec import Function

TRIES = 2  # joiners tried per answer and way: each try is one or two decodes

# A decode the look asks for — (query, functions, prefix of answer ids, close: the prefix's value is closed
# next, avoid: a token the next pick is not) — and what it is sent back: (answer ids, whether a stop token ended
# them, forced tokens among them).
Decode = tuple[str, "list[Function]", "list[int] | None", bool, "int | None"]
Answer = tuple[list[int], bool, int]
Look = Generator[Decode, Answer, "tuple[list[Call], str] | None"]


class Decoder(Protocol):
    """What the second look needs of a tool caller (`hare.tools.decoder.ToolCaller`, which calls it)."""

    tok: PreTrainedTokenizerFast

    def grammar(self, functions: list[Function]) -> CallGrammar: ...

    def decode(self, query: str, functions: list[Function] | None, prefix: list[int] | None = None,
               close: bool = False, avoid: int | None = None) -> Answer: ...


def second_look(caller: Decoder, query: str, functions: list[Function], ids: list[int], calls: list[Call]) -> Look:
    """(calls, their answer text) with the second request the model's first answer missed, or None; yields the
    decodes it needs on the way."""
    return ((yield from _misfiled(caller, query, functions, ids, calls))
            or (yield from _unasked(caller, query, functions, calls))
            or (yield from _repeated(caller, query, functions, ids, calls))
            or (yield from _collided(caller, query, functions, calls))
            or (yield from _swallowed(caller, query, functions, ids, calls))
            or (yield from _led(caller, query, functions, calls))
            or (yield from _dropped(caller, query, functions, calls)))


def run_look(look: Look, decode: Callable[..., Answer]) -> tuple[list[Call], str] | None:
    """Drives a look to its end, each decode it asks for done by `decode` at once."""
    try:
        request = next(look)
        while True:
            request = look.send(decode(*request))
    except StopIteration as stop:
        return stop.value


def second_request(caller: Decoder, query: str, functions: list[Function], ids: list[int],
                   calls: list[Call]) -> tuple[list[Call], str] | None:
    """`second_look` with its decodes run one at a time, as a single call does."""
    return run_look(second_look(caller, query, functions, ids, calls), caller.decode)


def _unasked(caller: Decoder, query: str, functions: list[Function], calls: list[Call]) -> Look:
    """The second of two calls of one function dropped when the words after the last joiner before its own,
    answered alone, ask for nothing: "look for box breathing on youtube and show me what comes up" had a second
    search "what comes up", "pair with Samsung soundbar and wait up to 74 seconds" a second device "wait up to 74
    seconds". Only a function called twice: alone, "text Dad I called the bank" gets no call from a small model,
    though after "call +1 617 555 0123 and then" it gets the text it asks for."""
    if len(calls) != 2 or calls[0]["name"] != calls[1]["name"]:
        return None
    first = [b for v in _values(calls[0]) for _, b in spans(v, query)]
    second = [a for v in _values(calls[1]) for a, _ in spans(v, query)]
    if not second:
        return None
    end, start = max(first, default=0), min(second)
    joiners = [j for j in AFTER.finditer(query) if end <= j.start() and j.end() <= start]
    if not joiners:
        return None
    alone = yield from _alone(caller, query[joiners[-1].end():], functions)
    if alone == []:
        return calls[:1], render(calls[:1], functions, query)
    return None


def _misfiled(caller: Decoder, query: str, functions: list[Function], ids: list[int], calls: list[Call]) -> Look:
    """A call that puts a phone number or an e-mail address, said whole, into a free-text value where another
    function takes it in an argument of its own, answered again from that call's functional token, the token
    barred: "connect me to +34 314 796163" was a Bluetooth device named "+34 314 796163" (4 of the 400 held-out
    requests of the seed-1 quickstart model of 69da9b2, a wording it had not seen), "subject …, body …, send it to
    kenji59@company.co.uk" a text to that address. Kept when the value then fills such an argument."""
    for call in calls:
        misfiled = [v for v in _texts(call, functions) if _wanted_elsewhere(v, call["name"], functions)]
        if not misfiled:
            continue
        token = caller.tok.convert_tokens_to_ids(functional_token(_function(call, functions).index))
        if token not in ids:
            return None
        k = ids.index(token)
        answer, ended, _ = yield query, functions, ids[:k], False, token
        raw = caller.tok.decode(answer) + API_END
        more = parse(raw, functions, query) if ended else None
        if isinstance(more, list) and len(more) == len(calls) and all(_filed(v, more, functions) for v in misfiled):
            return more, raw
        return None
    return None


def _filed(value: str, calls: list[Call], functions: list[Function]) -> bool:
    """Whether one of the calls has `value` in a phone-number or e-mail argument."""
    return any(_takes(schema, value) and normalise(schema, value) == given for call in calls
               for name, given in call["arguments"].items() if (schema := _properties(call, functions).get(name)))


def _wanted_elsewhere(value: str, name: str, functions: list[Function]) -> bool:
    """Whether a function other than `name` has a phone-number or e-mail argument that takes `value`."""
    return any(_takes(schema, value) for f in functions if f.name != name for schema in f.properties.values())


def _takes(schema: dict[str, Any], value: str) -> bool:
    """Whether `schema` is a phone number's or an e-mail address's and takes `value` (a number read as it is
    written in calls: "+1 (415) 555-0132" as +14155550132)."""
    from jsonschema import Draft202012Validator

    kind = kind_of(schema)
    if (kind is None or kind[0].name != "phone") and schema.get("format") != "email":
        return False
    return Draft202012Validator(schema, format_checker=formats()).is_valid(normalise(schema, value))


def _swallowed(caller: Decoder, query: str, functions: list[Function], ids: list[int], calls: list[Call]) -> Look:
    grammar = caller.grammar(functions)
    texts, text = [], ""
    for token in ids:
        text += grammar.pieces[token] or ""
        texts.append(text)
    tries = 0
    for k, before in enumerate(texts[:-1], 1):
        joiner = INSIDE.match(text, len(before))  # first: it fails at almost every token, and costs least
        if joiner is None:
            continue
        last = last_value(before)
        if last is None or not last[3] or (last[0], last[1]) not in grammar.free_text or not last[2].strip():
            continue
        value = last[2].strip()
        at = query.lower().find((value + joiner.group(0)).lower())
        if at < 0:
            continue
        tries += 1
        if tries > TRIES:
            return None
        answer, ended, _ = yield query, functions, ids[:k], True, None
        if not ended:
            continue
        raw = caller.tok.decode(answer) + API_END
        more = parse(raw, functions, query)
        if not isinstance(more, list) or len(more) <= len(calls):
            continue
        cut = calls_opened(before)  # the calls after the one whose value was cut answer the rest
        alone = yield from _alone(caller, query[at + len(value) + len(joiner.group(0)):], functions)
        if alone and _same(more[cut:], alone, functions) and _others(alone, calls):
            return more, raw
    return None


def _led(caller: Decoder, query: str, functions: list[Function], calls: list[Call]) -> Look:
    """A free-text value said once, right after a joiner, answered again as a second request: the words before the
    joiner alone must get the answer's functions, the words after it others."""
    for call in calls:
        for value in _texts(call, functions):
            found = spans(value, query)
            if len(found) != 1 or (joiner := next((j for j in AFTER.finditer(query) if j.end() == found[0][0]),
                                                  None)) is None:
                continue
            head = yield from _alone(caller, query[:joiner.start()], functions)
            if not head or sorted(c["name"] for c in head) != sorted(c["name"] for c in calls):
                return None
            rest = yield from _alone(caller, query[joiner.end():], functions)
            if rest and len(head) + len(rest) <= MAX_CALLS and _others(rest, head):
                return head + rest, render(head + rest, functions, query)
            return None
    return None


def _repeated(caller: Decoder, query: str, functions: list[Function], ids: list[int], calls: list[Call]) -> Look:
    """A call whose two free-text values are the same words, said once, answered again with the first of them,
    then the second, begun by another word than it was: kept when the answer calls the same functions and no
    longer repeats itself."""
    found = _repeat(calls, query, functions)
    if found is None:
        return None
    grammar, (index, names) = caller.grammar(functions), found
    opened, text = {(index, name) for name in names}, ""
    for k, token in enumerate(ids):
        last = last_value(text)
        text += grammar.pieces[token] or ""
        if last is None or not last[3] or last[2] or last[:2] not in opened:
            continue  # not the opening of one of the two values
        answer, ended, _ = yield query, functions, ids[:k], False, token
        raw = caller.tok.decode(answer) + API_END
        more = parse(raw, functions, query) if ended else None
        if isinstance(more, list) and [c["name"] for c in more] == [c["name"] for c in calls] and \
                _repeat(more, query, functions) is None:
            return more, raw
    return None


def _repeat(calls: list[Call], query: str, functions: list[Function]) -> tuple[int, set[str]] | None:
    """(function index, argument names) of the first call with two free-text values of the same words, which the
    request says once: two arguments never take the same words ("… use New design mockups as the subject and
    write The shipment arrived damaged" gave both the title and the body "The shipment arrived damaged")."""
    by_name = {f.name: f for f in functions}
    for call in calls:
        fn = by_name[call["name"]]
        texts = {name: value.casefold() for name, value in call["arguments"].items()
                 if free_texts(fn.properties, {name: value})}
        for name, value in texts.items():
            twin = {other for other, v in texts.items() if v == value and other != name}
            if twin and len(spans(call["arguments"][name], query)) == 1:
                return fn.index, {name, *twin}
    return None


def _dropped(caller: Decoder, query: str, functions: list[Function], calls: list[Call]) -> Look:
    placed = [(at, at + len(value)) for call in calls for value in _worded_as(call, functions, query).values()
              if isinstance(value, str) and len(value) > 1 and (at := query.lower().find(value.lower())) >= 0]
    end, start = max((b for _, b in placed), default=0), min((a for a, _ in placed), default=len(query))
    joiners = list(AFTER.finditer(query))
    for joiner in [j for j in joiners if j.start() >= end][:TRIES]:  # the request after the values dropped
        head, rest = query[:joiner.start()], query[joiner.end():]
        if len(rest.split()) < 2 or not _alike(mine := (yield from _alone(caller, head, functions)), calls, functions):
            continue
        alone = yield from _alone(caller, rest, functions)
        if alone and len(calls) + len(alone) <= MAX_CALLS and _others(alone, calls):
            return mine + alone, render(mine + alone, functions, query)
    for joiner in [j for j in joiners if j.end() <= start][::-1][:TRIES]:  # the request before them dropped
        head, rest = query[:joiner.start()], query[joiner.end():]
        if len(head.split()) < 2 or not _alike(mine := (yield from _alone(caller, rest, functions)), calls, functions):
            continue
        alone = yield from _alone(caller, head, functions)
        if alone and len(calls) + len(alone) <= MAX_CALLS and _others(alone, calls) and _worded(alone, functions):
            return alone + mine, render(alone + mine, functions, query)
    return None


def _worded_as(call: Call, functions: list[Function], query: str) -> dict[str, object]:
    """The call's arguments in the request's words: a time or date as said ("until 2:30PM" for 2025-05-04-14-30),
    so that a look after the values starts after it (an event's end there had been answered again as an alarm)."""
    return said(_properties(call, functions), call["arguments"], query)


def _alike(part: list[Call] | None, calls: list[Call], functions: list[Function]) -> bool:
    """Whether a part of the request, answered alone, gets the answer's calls: the same functions with the same
    words. Its numbers and choices may differ, and the part's are taken: "connect to Bose QuietComfort 45 and
    turn media volume to 4" gave timeout 40 from the dropped request's "4"."""
    def words(calls: list[Call]) -> list[tuple[str, list[str]]]:
        return [(c["name"], [v.casefold() for v in _texts(c, functions)]) for c in calls]

    return part is not None and sorted(words(part)) == sorted(words(calls))


def _worded(calls: list[Call], functions: list[Function]) -> bool:
    """Whether each call's free texts, if it has any, hold a word of three letters or more: the words before a
    request that only announce it ("hi, I need to send an email. to …") gave a text to "an" saying "an"."""
    return all(not (texts := _texts(c, functions)) or any(len(w) >= 3 for t in texts for w in t.split())
               for c in calls)


def _texts(call: Call, functions: list[Function]) -> list[str]:
    """The call's free-text values (`surface.free_texts`)."""
    return free_texts(_properties(call, functions), call["arguments"])


def _function(call: Call, functions: list[Function]) -> Function:
    """The call's function in the spec."""
    return next(f for f in functions if f.name == call["name"])


def _properties(call: Call, functions: list[Function]) -> dict[str, dict[str, Any]]:
    """The argument schemas of the call's function."""
    return _function(call, functions).properties


def _collided(caller: Decoder, query: str, functions: list[Function], calls: list[Call]) -> Look:
    """Two calls whose values take the same words, said once, answered again as the request's two parts: the
    parts are split at a joiner between the words only the first call took and those only the second took, and
    the parts' answers are kept when they make as many calls and no longer share words."""
    pair = _sharing(calls, query, functions)
    if pair is None:
        return None
    one, other, shared = pair  # in the answer's order, which is the request's
    first, second = ([span for v in _values(call) if v.casefold() not in shared for span in spans(v, query)]
                     for call in (one, other))
    after, before = max((b for _, b in first), default=0), min((a for a, _ in second), default=len(query))
    for joiner in [j for j in AFTER.finditer(query) if after <= j.start() and j.end() <= before][:TRIES]:
        head = yield from _alone(caller, query[:joiner.start()], functions)
        if not head:
            continue
        rest = yield from _alone(caller, query[joiner.end():], functions)
        if rest and len(head + rest) == len(calls) and _sharing(head + rest, query, functions) is None:
            return head + rest, render(head + rest, functions, query)
    return None


def _values(call: Call) -> list[str]:
    """The call's values as the request may say them (numbers in figures)."""
    return [str(v) for v in call["arguments"].values() if isinstance(v, str | int) and not isinstance(v, bool)
            and str(v).strip()]


def _sharing(calls: list[Call], query: str, functions: list[Function]) -> tuple[Call, Call, set[str]] | None:
    """The first two calls of different functions where a free-text value of one is a value of the other, said
    once in the request, and those words (case-folded). One function twice may share them: "text Bob and Alice
    I'm late"; an enum of one and a free text of the other may not ("media" as the place of "media volume 8")."""
    def words(call: Call, free: bool) -> set[str]:
        values = (_texts(call, functions) if free
                  else [v for v in call["arguments"].values() if isinstance(v, str) and v.strip()])
        return {v.casefold() for v in values}

    for k, one in enumerate(calls):
        for other in calls[k + 1:]:
            if one["name"] == other["name"]:
                continue
            shared = (words(one, True) & words(other, False)) | (words(one, False) & words(other, True))
            if shared := {v for v in shared if len(spans(v, query)) == 1}:
                return one, other, shared
    return None


def _alone(caller: Decoder, part: str, functions: list[Function]) -> Generator[Decode, Answer, list[Call] | None]:
    """The model's calls for `part` of the request on its own (no second look at it)."""
    if not part.strip():
        return None
    answer, ended, _ = yield part, functions, None, False, None
    calls = parse(caller.tok.decode(answer) + API_END, functions, part) if ended else None
    return calls if isinstance(calls, list) else None


def _others(new: list[Call], calls: list[Call]) -> bool:
    """Whether the `new` calls name only functions the answer did not call: a part of a request that names
    the same one again is mostly a piece of it ("Hit Me Hard and Soft", "can you check on it")."""
    return not {c["name"] for c in new} & {c["name"] for c in calls}


def _same(a: list[Call] | None, b: list[Call], functions: list[Function]) -> bool:
    return a is not None and normalize(a, functions) == normalize(b, functions)
