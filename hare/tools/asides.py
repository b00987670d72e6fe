"""What people say around a request: greetings and fillers before it, politeness and urgency after it, and the
words that join it to a second one.

The generator (`hare.tools.data`) dresses a share of its requests in them, so that the model learns where a
value ends when the request goes on after it ("weather in Abu Dhabi at the moment": the location is "Abu
Dhabi"); the parser (`hare.tools.surface.run_on`) reads the same words as a tail that is no part of a message.
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
# What people say about themselves before the request: where they are, who is coming, what their hands are doing.
# Such a sentence names places, people, devices and the very words requests use ("open", "cold", "the hub"), and
# is no request itself: a tool model that had never seen one called the weather for the city in "I'm flying
# through Keflavik next week, …", a route for "we're driving up to Jasper", opened the door for "open the front
# camera" (hand-written requests of 2026-12-06). Training requests get one now and then (`hare.tools.data`);
# {bank} is a value of that bank, never a value of the call.
CONTEXTS = ["my flight to {city} leaves tomorrow, so", "we're going to {city} this weekend.",
            "my hands are sticky,", "I'm at {place} right now and", "my friend {first_name} is visiting from "
            "{city},", "my cousins from {city} are staying with us, so", "I'm trying to read,",
            "I just got back from {city} and", "the kids are finally asleep, so", "I'm going jogging soon.",
            "I'm stuck in traffic near {place},", "{first_name} just left for {city},", "ok I'm home now,",
            "it's chilly in the living room,", "it's way too hot today,", "I'm cooking dinner and", "I'm in a meeting,",
            "my battery is almost dead, so", "I can't find my glasses,", "the door was open when I got home, anyway",
            "I already locked up,", "I just called {first_name} and", "{first_name} texted me earlier,",
            "I'm listening to {song} and", "we were watching {video_name} last night,", "my {device_name} keeps "
            "disconnecting, anyway", "it's raining in {city} again,", "I read the news this morning,",
            "I'm on the train to {city}.", "I'm waiting at {place},", "my alarm didn't go off this morning, so",
            "the volume on the hub is fine,", "it's really bright out here,", "the smoke detector beeped yesterday, "
            "but", "{first_name} and I are going to {place} later.", "I'm setting up my new phone,",
            "I'm walking the dog,", "we just moved to {city},", "I'm at work till late,", "my mom lives in {city},",
            "I'm driving,", "I'm at the airport in {city},", "so I was talking to {first_name},",
            "long day at {place},", "I'm lying on the couch,", "the camera on this phone is great,",
            "I'm making a list for tomorrow,", "{first_name} is coming over at some point,", "we're in {city} for "
            "the week and", "my email inbox is a mess,", "the house is quiet,", "I'm heading to {place} in ten "
            "minutes,", "the line was busy earlier,", "the thermostat is on the wall by the kitchen,",
            "my brother in {city} sent me a video,", "I have a presentation tomorrow,", "so my calendar is packed,",
            "I'm trying to get some sleep,", "I just woke up,", "I'm outside {place},", "the hub sits on the counter,",
            "music is playing in the other room,", "I'm on a video call,", "{first_name} borrowed my car, so",
            "I'm at the gym,", "traveling through {city} next month,", "it's my day off,", "I'm back from {place},",
            "we're having a party tonight,", "my phone keeps buzzing,", "I'm about to go to bed,"]
POLITE = ("please", "pls", "plz", "thanks", "thx", "ty", "thank")
# Every word of a tail: a request's remainder made only of these is politeness or urgency, not a message's words.
TAIL_WORDS = frozenset(w for s in SUFFIXES for w in re.findall(r"[a-z']+", s.lower())) | frozenset(POLITE)


def set_off(tail: str) -> bool:
    """True for a tail that no reader takes as part of the words before it: after a comma, or a polite word."""
    return tail.startswith(",") or re.match(r"\W*(\w*)", tail)[1] in POLITE  # type: ignore[index]


# The words a request goes on to something else with ("turn off dnd and put on some music").
JOINING_WORDS = frozenset("and then also but plus".split())
# How a request goes on to a second one ("and then", ", then", ";", ". " …); a comma alone is not one (see joins).
_JOINER = r"(?:,? and then|,? then|,? and also|,? also|;|,? and|,? plus|\.|,? &)\s+"
INSIDE = re.compile(rf"{_JOINER}(?=\w)", re.IGNORECASE)  # at the start of what a value went on with
AFTER = re.compile(rf"(?<=\w)[!?.]?{_JOINER}(?=\w)", re.IGNORECASE)  # between two requests
