"""What people say around a request: greetings and fillers before it, politeness and urgency after it, and the
words that join it to a second one.

The generator (`hare.tools.data`) dresses a share of its requests in them, so that the model learns where a
value ends when the request goes on after it ("weather in Abu Dhabi at the moment": the location is "Abu
Dhabi"); the parser (`hare.tools.readings.run_on`) reads the same words as a tail that is no part of a message.
One list for both, so what the model is taught to leave out is what the parser leaves out. The joiners are where
the second look (`hare.tools.joins`) looks for a second request, and where a message does not run on.
"""

from __future__ import annotations

import re

# Each split of the generated data gets its own half of each list.
PREFIXES = ["hey, ", "ok google, ", "hey google, ", "um, ", "so ", "quick one: ", "excuse me, ", "hi, ", "yo ",
            "hmm, ", "okay so ", "real quick, ", "assistant, ", "hello, ", "alright, ", "uh ", "sorry, ",
            "one more thing: ", "oh and ", "ok, ", "hey there, ", "hi there, ", "ok so ", "right, ", "well, ",
            "listen, ", "btw ", "also, ", "oh, ", "yes, ", "now ", "next, ", "good morning, ", "hey assistant, ",
            "ugh, ", "wait, ", "actually, ", "oh wait, ", "by the way, ", "hey phone, ", "can you help? ", "so um, ",
            "ok then, ", "alright then, ", "erm, "]
SUFFIXES = [" please", ", please", " thanks", ", thank you", " for me", " right now", " now", " asap", ", thanks!",
            " when you get a chance", " if you can", ", would you?", " real quick", " please and thank you", " :)",
            "!", " thx", " pls", " ok?", ", cheers", " at the moment", " for me please", ", if that's ok",
            " immediately", ", I'm in a hurry", " thank you so much", " please, thanks", " whenever", " quickly",
            " plz", " ty", ", ty", " right away", " straight away", " for me thanks", ", ok", " okay?", " now please",
            ", no rush", " if possible", ", could you?", ", can you?", " thanks a lot", ", much appreciated",
            " please!", "!!", " :D", " 🙏", " thank u", ", that's all", ", that's it", " for now", " this instant",
            ", quick", " when you can", ", cheers mate", " at once", " please, I'm driving", " real fast", " ty!",
            " pretty please", ", would you mind?", " thanks so much", ", thanks in advance"]
POLITE = ("please", "pls", "plz", "thanks", "thx", "ty", "thank")
# Every word of a tail: a request's remainder made only of these is politeness or urgency, not a message's words.
TAIL_WORDS = frozenset(w for s in SUFFIXES for w in re.findall(r"[a-z']+", s.lower())) | frozenset(POLITE)


def set_off(tail: str) -> bool:
    """True for a tail that no reader takes as part of the words before it: after a comma, or a polite word."""
    return tail.startswith(",") or re.match(r"\W*(\w*)", tail)[1] in POLITE  # type: ignore[index]


# The words a request goes on to something else with ("turn off dnd and put on some music").
JOINING_WORDS = frozenset("and then also but plus".split())
# How a request goes on to a second one ("and then", ", then", ";", ". " …); a comma alone is not one (see joins).
_JOINER = r"(?:,? and then|,? then|,? and also|,? also|;|,? and|,? plus|\.|,? &|,? \+)\s+"
INSIDE = re.compile(rf"{_JOINER}(?=\w)", re.IGNORECASE)  # at the start of what a value went on with
# Between two requests: after a word, or after a value's closing quote or bracket ("text Ben 'leaving now' and lock
# the door" had no joiner, and its text said "lock the door": 4-5 of five models lost that lock).
AFTER = re.compile(rf"(?:(?<=\w)|(?<=[\w?!.]['\"’”)]))[!?.]?{_JOINER}(?=\w)", re.IGNORECASE)
