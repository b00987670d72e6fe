"""The `dialogue` and `tool_use` strategies: chat-template conversations and Octopus-style calls.

`dialogue` renders conversations about the facts and math problems exactly as the HARE chat
template does (`render_chat` is a plain-Python twin of `hare.model.tokenizer.CHAT_TEMPLATE`, so
workers need no tokenizer; a test checks byte equality with `apply_chat_template`). Records keep
`messages`. `tool_use` writes three or four user requests, each with the Octopus v2 answer
`<api_i>(args)<api_end>` followed by the function's description (so the functional token's meaning is
learned), or, for requests no function serves, a plain reply with no call. Records keep `functions`
(None where no call) and `arguments`, one per request.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from hare.data.synth import arithmetic, nlp_tasks
from hare.data.synth.common import NAMES, Context, pick
from hare.model.tokenizer import API_END, DEFAULT_SYSTEM_PROMPT, ROUND_END, ROUND_START, functional_token

SYSTEM_PROMPTS = ("You are a patient tutor.", "You answer briefly and precisely.",
                  "You are a friendly science teacher.", "You are a quiz master who gives short answers.",
                  "You help students revise for exams.", "You are a geography and science helper.")


def render_chat(messages: list[dict[str, str]]) -> str:
    """The HARE chat template applied to `messages` (no generation prompt)."""
    parts = []
    if messages and messages[0]["role"] == "system":
        parts.append(f"{ROUND_START}system\n{messages[0]['content']}{ROUND_END}\n")
        messages = messages[1:]
    else:
        parts.append(f"{ROUND_START}system\n{DEFAULT_SYSTEM_PROMPT}{ROUND_END}\n")
    for m in messages:
        if m["role"] == "user":
            parts.append(f"{ROUND_START}user\n{m['content']}{ROUND_END}\n")
        else:
            parts.append(f"{ROUND_START}assistant\n{m['content']}{ROUND_END}\n")
    return "".join(parts)


REPLIES = ("{}.", "It is {}.", "The answer is {}.", "{}, as it happens.")
FOLLOW_UPS = ("Thanks! Next question: ", "Great. One more: ", "Thanks. ", "OK. ", "And another: ")


def _fact_turns(rng: random.Random, ctx: Context) -> list[dict[str, str]]:
    """Two or three question/answer turns about different facts (one fact per chat repeated itself: 96 % of
    such chats were exact duplicates at 100,000 documents)."""
    messages: list[dict[str, str]] = []
    for turn in range(rng.randint(2, 3)):
        question, answer, _, _ = nlp_tasks._fact(rng, ctx)
        lead = pick(rng, FOLLOW_UPS) if turn else ""
        messages += [{"role": "user", "content": lead + question},
                     {"role": "assistant", "content": pick(rng, REPLIES).format(answer)}]
    return messages


def _two_facts(rng: random.Random, ctx: Context) -> list[dict[str, str]]:
    return [{"role": "system", "content": pick(rng, SYSTEM_PROMPTS)}, *_fact_turns(rng, ctx)]


def _math_tutor(rng: random.Random, ctx: Context) -> list[dict[str, str]]:
    problem = arithmetic.generate(rng, ctx)
    reply = problem["text"].split("Solution:\n", 1)[1].replace("\n#### ", "\nSo the answer is ")
    return [{"role": "user", "content": problem["question"]}, {"role": "assistant", "content": reply + "."}]


DIALOGUES: dict[str, Callable[[random.Random, Context], list[dict[str, str]]]] = {
    "fact_chat": _fact_turns, "two_facts": _two_facts, "math_tutor": _math_tutor,
}


def generate_dialogue(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(DIALOGUES))
    messages = DIALOGUES[template](rng, ctx)
    return {"text": render_chat(messages), "template": template, "messages": messages}


# ---------------------------------------------------------------------------------------------
# tool_use

CITIES = ("Lisbon", "Nairobi", "Osaka", "Toronto", "Lima", "Oslo", "Hanoi", "Accra", "Perth", "Quito", "Dakar",
          "Bergen", "Cusco", "Tbilisi", "Hobart", "Porto", "Kraków", "Mombasa", "Busan", "Halifax", "Cork", "Seville",
          "Tromsø", "Durban", "Valparaíso", "Chiang Mai", "Zanzibar", "Reykjavík", "Bologna", "Montevideo")
TOPICS = ("hiking boots", "bread recipes", "train times to the coast", "how tides work", "used bicycles",
          "cheap flights to Rome", "how to repot a cactus", "the rules of cricket", "vegetarian lasagne",
          "museums open on Monday", "how solar panels work", "second-hand cellos", "the history of tea",
          "knitting patterns for beginners", "local swimming pools", "how to fix a dripping tap",
          "bird songs of the forest", "the tallest mountains in Africa", "board games for four players",
          "how vaccines work")
SUBJECTS = ("Meeting notes", "Dinner on Friday", "Invoice", "Holiday photos", "Project plan", "Birthday party",
            "Rent reminder", "Book club", "Football practice", "Quarterly report", "Garden tools", "Lost keys")
WHEN = ("today", "tomorrow", "this weekend", "on Monday", "tonight")
NO_CALL = ("Tell me a joke about hares.", "What does 'ephemeral' mean?", "asdf qwerty", "How are you today?",
           "Write a haiku about rain.", "Why is the sky blue?", "What's your favourite colour?",
           "Explain photosynthesis simply.", "Thanks, that's all.", "Who wrote Don Quixote?",
           "Give me a synonym for happy.", "Translate 'good morning' into Spanish.")
FUNCTIONS = (  # (index, name, signature, description)
    (0, "get_weather", "city: str", "Return today's weather forecast for a city."),
    (1, "call_contact", "name: str", "Start a phone call to a saved contact."),
    (2, "web_search", "query: str", "Search the web and show the results."),
    (3, "send_email", "to: str, subject: str", "Open a new email to a recipient with a subject line."),
    (4, "take_photo", "camera: str", "Take a photo with the 'front' or 'back' camera."),
    (5, "set_timer", "minutes: int", "Start a countdown timer."),
)


def _request(rng: random.Random) -> tuple[str, int | None, list[Any]]:
    kind = rng.randrange(7)
    if kind == 0:
        city, when = pick(rng, CITIES), pick(rng, WHEN)
        return pick(rng, (f"What's the weather like in {city} {when}?", f"Will it rain in {city} {when}?",
                          f"Do I need a coat in {city} {when}?", f"Weather forecast for {city}, please.")), 0, [city]
    if kind == 1:
        who = pick(rng, NAMES)
        return pick(rng, (f"Call {who}, please.", f"Can you ring {who} for me?", f"Phone {who}.",
                          f"I need to talk to {who} now.")), 1, [who]
    if kind == 2:
        topic = pick(rng, TOPICS)
        return pick(rng, (f"Look up {topic} online.", f"Search the web for {topic}.", f"Find me {topic}.",
                          f"Can you google {topic}?")), 2, [topic]
    if kind == 3:
        who, subject = pick(rng, NAMES), pick(rng, SUBJECTS)
        return pick(rng, (f"Write an email to {who} about '{subject}'.", f"Email {who} with the subject '{subject}'.",
                          f"Start an email to {who}, subject '{subject}'.")), 3, [who, subject]
    if kind == 4:
        camera = pick(rng, ("front", "back"))
        return pick(rng, (f"Take a picture with the {camera} camera.", f"Snap a photo using the {camera} camera.",
                          f"Use the {camera} camera to take a photo.", f"{camera.capitalize()} camera, take a shot.")
                    ), 4, [camera]
    if kind == 5:
        minutes = rng.randint(1, 120)
        return pick(rng, (f"Set a timer for {minutes} minutes.", f"Start a {minutes}-minute timer.",
                          f"Count down {minutes} minutes for me.", f"Remind me in {minutes} minutes.")), 5, [minutes]
    return pick(rng, NO_CALL), None, []


def _example(rng: random.Random) -> tuple[str, str | None, list[Any]]:
    """One query and its Octopus-style response: (text, function name or None, arguments)."""
    query, index, args = _request(rng)
    if index is None:
        return f"Query: {query}\n\nResponse: No function fits this request, so I answer directly without a call.", \
            None, []
    _, name, signature, description = FUNCTIONS[index]
    call = f"{functional_token(index)}({', '.join(json.dumps(a, ensure_ascii=False) for a in args)}){API_END}"
    return (f"Query: {query}\n\nResponse: {call}\n\nFunction description: def {name}({signature}): {description}",
            name, args)


def generate_tool_use(rng: random.Random, ctx: Context) -> dict[str, Any]:
    """Three or four independent examples per document: a single request has only a few hundred distinct
    wordings (97 % of single-example documents were exact duplicates at 100,000 documents)."""
    examples = [_example(rng) for _ in range(rng.randint(3, 4))]
    return {"text": "\n\n".join(text for text, _, _ in examples), "template": examples[0][1] or "no_call",
            "functions": [name for _, name, _ in examples], "arguments": [args for _, _, args in examples]}


TOOL_TEMPLATES = [f[1] for f in FUNCTIONS] + ["no_call"]
