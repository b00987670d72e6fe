"""A switch the request turns: an on/off argument read from the words said of the function's subject.

"Can you turn off Do Not Disturb now", "take my phone off dnd!!", "get me out of do not disturb mode" and
"kill DND" are `enabled=False` to a reader ("silence everything with dnd" `True`: what a request does something
with is on), but a small model answers them `True` (the quickstart's model of 2026-12-04 on 8 of the 400
held-out requests and 3 of the 440 hand-written ones: every boolean it got wrong was a switch turned off, and
the request said "off", "out of", "end" or "kill" right beside the switch's name; the model of 2026-12-05 had
"silence notifications with do not disturb" and "… silence everything with dnd" off). The words are there to
read, as times and places are (`hare.tools.surface`), so the parser reads them instead of trusting the one
token the model chose.

A switch is a boolean argument whose description speaks of "on" and "off" (or that is named `enabled`,
`on`, `active`). Its subject is what the function's name says after its verb: "do not disturb" of
`enable_do_not_disturb`, and its initials ("dnd") when it is several words. Only the words right beside a
mention of the subject count, up to a comma or a joiner ("turn off dnd and put on some music": "off" is said
of dnd, "on" of the music), and only when all of them agree. A request that turns something else ("turn
notifications on", "unmute my notifications": do not disturb off) says nothing of the subject, and the
model's answer stands. Of the generated and hand-written labelled switches (2026-12-05: the quickstart's
training and validation data, the held-out and hand-written sets), the reading agrees with all 601 it speaks
for and leaves 257 to the model.
"""

from __future__ import annotations

import re
from typing import Any

from hare.tools.asides import JOINING_WORDS

_ON = frozenset("on enable enabled activate start into with".split())
_OFF = frozenset("off disable disabled deactivate stop end kill cancel exit quit leave out no done".split())
_VERBS = frozenset("enable disable set turn toggle switch activate deactivate start stop".split())
_NAMES = frozenset(("enabled", "enable", "on", "active"))
_NEAR = 3  # words either side of a mention of the subject
_WORD = re.compile(r"[\w']+|[,;.!?]")


def is_switch(name: str, schema: dict[str, Any]) -> bool:
    if schema.get("type") != "boolean":
        return False
    description = str(schema.get("description", "")).lower()
    return name in _NAMES or bool(re.search(r"\bon\b", description) and re.search(r"\boff\b", description))


def subjects(function: str) -> list[list[str]]:
    """The words a request names the function's subject with: its name after the verb, and their initials."""
    words = function.lower().split("_")
    while words and words[0] in _VERBS:
        words = words[1:]
    return [words, ["".join(w[0] for w in words)]] if len(words) > 1 else [words] if words else []


def said_switch(function: str, query: str) -> bool | None:
    """True or False where every on/off word beside a mention of the function's subject agrees, else None."""
    words = [w.lower() for w in _WORD.findall(query)]
    found: set[bool] = set()
    for subject in subjects(function):
        n = len(subject)
        for at in range(len(words) - n + 1):
            if words[at:at + n] != subject:
                continue
            for side in (words[max(0, at - _NEAR):at][::-1], words[at + n:at + n + _NEAR]):
                for word in side:
                    if not word[0].isalnum() or word in JOINING_WORDS:  # what is said of the subject ends there
                        break
                    if word in _ON or word in _OFF:
                        found.add(word in _ON)
    return found.pop() if len(found) == 1 else None


def switched(function: str, properties: dict[str, dict[str, Any]], arguments: dict[str, Any],
             query: str) -> dict[str, Any]:
    """The call's switch arguments as the request turns them (unchanged where it does not say)."""
    names = [k for k, v in arguments.items() if isinstance(v, bool) and isinstance(properties.get(k), dict)
             and is_switch(k, properties[k])]
    if len(names) != 1 or (said := said_switch(function, query)) is None:
        return arguments
    return arguments | {names[0]: said}
