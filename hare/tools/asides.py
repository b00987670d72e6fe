"""What people say around a request: the situation it comes from and greetings before it, politeness and urgency
after it, and the words that join it to a second one.

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
# The situation a request comes from, said before it ("I'm reading in bed and my eyes hurt, set the brightness to
# 1"). Its places, names, devices and times are no part of any call: trained without them, the model called on
# them — the weather in the city the in-laws come from, a Bluetooth device named "bed", the door for a funeral.
# {placeholders} are value banks (`hare.tools.slots`), so the words a call could copy are there to be left alone.
SCENES = ["I can't fall asleep tonight", "my cousin from {city} is visiting",
          "I have a layover in {city} on Monday", "we're at a wedding ceremony",
          "I'm elbow-deep in dishes", "I'm heading to yoga soon",
          "{person} just called me from the airport", "the bank's app keeps crashing",
          "we just landed in {city}", "I'm driving to {place} right now",
          "the baby is finally asleep", "I'm in a meeting with {person} until 3", "my phone is at 5 percent",
          "it's my first day at the new job", "we're hosting a dinner party at 7", "I just got back from {city}",
          "{person} is picking me up at {place}", "I'm cooking and my hands are wet",
          "the kids are watching cartoons in the living room", "I left my {device_name} in the car yesterday",
          "I'm at the gym and forgot my towel", "my sister from {city} is staying with us this week",
          "it's been raining all day and I'm soaked", "we're celebrating {person}'s birthday tomorrow",
          "I'm on the train to {city}", "I can barely hear anything in this cafe",
          "the heating in the office is broken again", "I'm lying on the couch with a cold",
          "I've got a job interview at 10 tomorrow", "we're stuck in traffic on the way to {place}",
          "I'm packing for a trip to {city}", "the neighbours are having a party", "my boss just emailed me",
          "I'm at {place} waiting for {person}", "I just woke up from a nap", "we're watching a movie in the dark",
          "I think I left the stove on", "my {device_name} keeps disconnecting", "I'm walking the dog in the park",
          "the power came back on after the storm", "my flight to {city} leaves at 6 am",
          "I'm sitting in the back of a taxi", "the sun is in my eyes", "I just got out of {event_title}",
          "the plumber is coming at 2", "I've had {song} stuck in my head all day", "I'm on a video call with {person}",
          "our team just won the match", "I can't find my glasses anywhere", "the dog keeps barking at the door",
          "it's really late here in {city}", "my mom in {city} worries about me", "my hands are full of groceries",
          "we're on a road trip to {city}", "I just moved to {city}", "{person} recommended this to me",
          "the meeting with {person} got moved to Friday", "I'm half asleep", "I'm at my parents' place in {city}",
          "the babysitter just got here", "work has been crazy this week", "I'm trying to focus on my thesis",
          "I've got a splitting headache", "the party starts at 8", "my {device_name} just died",
          "we have guests from {city} this weekend", "I'm watching the game with {person}",
          "the movie starts in ten minutes", "class starts at 9", "I'm about to go on stage",
          "I'm in the library", "we're camping near {city}", "I'm at {place} with the kids",
          "traffic on the bridge is terrible", "it's freezing outside", "I just sent {person} a text",
          "I already took a photo of the receipt", "my coffee just spilled everywhere",
          "{person} and I are planning a trip to {city}", "I'm at the doctor's office",
          "the wifi here is really slow", "my roommate {person} is asleep", "I'm on my lunch break",
          "I just finished a long shift", "the game is about to start", "I'm stuck at {place}",
          "we're having a barbecue in the backyard", "my grandma in {city} turns 90 today",
          "I'm in the car with {person}", "the landlord is coming by later", "I got caught in the rain",
          "I'm sitting in a lecture", "the kids just went to bed", "it's been a long day",
          "I'm wearing my {device_name}", "my train was cancelled", "we're at the beach near {city}",
          "I'm at the hospital with {person}", "the concert was amazing last night", "I'm in a rush this morning",
          "I just got home from work", "someone is at the door", "I'm holding the baby"]
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
AFTER = re.compile(rf"(?<=\w)[!?.]?{_JOINER}(?=\w)", re.IGNORECASE)  # between two requests
