"""The `dialogue` and `tool_use` strategies: chat-template conversations and Octopus-style calls.

`dialogue` renders conversations about the facts and math problems exactly as the HARE chat
template does (`render_chat` is a plain-Python twin of `hare.model.tokenizer.CHAT_TEMPLATE`, so
workers need no tokenizer; a test checks byte equality with `apply_chat_template`). Records keep
`messages`. `tool_use` writes a user request and the Octopus v2 answer `<api_i>(args)<api_end>`
followed by the function's description (so the functional token's meaning is learned), or, for
requests no function serves, a plain reply with no call. Records keep `function` and `arguments`.
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
                  "You are a friendly science teacher.")


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


def _fact_chat(rng: random.Random, ctx: Context) -> list[dict[str, str]]:
    question, answer, _, _ = nlp_tasks._fact(rng, ctx)
    return [{"role": "user", "content": question}, {"role": "assistant", "content": f"{answer}."}]


def _two_facts(rng: random.Random, ctx: Context) -> list[dict[str, str]]:
    first, second = _fact_chat(rng, ctx), _fact_chat(rng, ctx)
    second[0]["content"] = "Thanks! And " + second[0]["content"][0].lower() + second[0]["content"][1:]
    return [{"role": "system", "content": pick(rng, SYSTEM_PROMPTS)}, *first, *second]


def _math_tutor(rng: random.Random, ctx: Context) -> list[dict[str, str]]:
    problem = arithmetic.generate(rng, ctx)
    reply = problem["text"].split("Solution:\n", 1)[1].replace("\n#### ", "\nSo the answer is ")
    return [{"role": "user", "content": problem["question"]}, {"role": "assistant", "content": reply + "."}]


DIALOGUES: dict[str, Callable[[random.Random, Context], list[dict[str, str]]]] = {
    "fact_chat": _fact_chat, "two_facts": _two_facts, "math_tutor": _math_tutor,
}


def generate_dialogue(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(DIALOGUES))
    messages = DIALOGUES[template](rng, ctx)
    return {"text": render_chat(messages), "template": template, "messages": messages}


# ---------------------------------------------------------------------------------------------
# tool_use

CITIES = ("Lisbon", "Nairobi", "Osaka", "Toronto", "Lima", "Oslo", "Hanoi", "Accra", "Perth", "Quito")
TOPICS = ("hiking boots", "bread recipes", "train times to the coast", "how tides work", "used bicycles")
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
        city = pick(rng, CITIES)
        return pick(rng, (f"What's the weather like in {city} today?", f"Will it rain in {city}?")), 0, [city]
    if kind == 1:
        who = pick(rng, NAMES)
        return pick(rng, (f"Call {who}, please.", f"Can you ring {who} for me?")), 1, [who]
    if kind == 2:
        topic = pick(rng, TOPICS)
        return f"Look up {topic} online.", 2, [topic]
    if kind == 3:
        who, subject = pick(rng, NAMES), pick(rng, ("Meeting notes", "Dinner on Friday", "Invoice"))
        return f"Write an email to {who} about '{subject}'.", 3, [who, subject]
    if kind == 4:
        camera = pick(rng, ("front", "back"))
        return f"Take a picture with the {camera} camera.", 4, [camera]
    if kind == 5:
        minutes = rng.randint(1, 90)
        return f"Set a timer for {minutes} minutes.", 5, [minutes]
    return pick(rng, ("Tell me a joke about hares.", "What does 'ephemeral' mean?", "asdf qwerty")), None, []


def generate_tool_use(rng: random.Random, ctx: Context) -> dict[str, Any]:
    query, index, args = _request(rng)
    if index is None:
        text = f"Query: {query}\n\nResponse: No function fits this request, so I answer directly without a call."
        return {"text": text, "template": "no_call", "function": None, "arguments": []}
    _, name, signature, description = FUNCTIONS[index]
    call = f"{functional_token(index)}({', '.join(json.dumps(a, ensure_ascii=False) for a in args)}){API_END}"
    text = f"Query: {query}\n\nResponse: {call}\n\nFunction description: def {name}({signature}): {description}"
    return {"text": text, "template": name, "function": name, "arguments": args}


TOOL_TEMPLATES = [f[1] for f in FUNCTIONS] + ["no_call"]
