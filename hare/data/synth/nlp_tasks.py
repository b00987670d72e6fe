"""The `nlp_tasks` strategy: facts restructured as HARE's D3 tasks.

Question answering, multiple choice (as plain text, and as the JSON object
`{"question": ..., "options": [...], "answer": ...}` that is the whole text), cloze and
summarisation. Records keep `question`, `answer` and, for multiple choice, `options`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from hare.data.synth.common import Context, pick

Fact = tuple[str, str, list[str], str]  # question, answer, pool of possible answers, cloze sentence with ____


def _fact(rng: random.Random, ctx: Context) -> Fact:
    f = ctx.facts
    kind = rng.randrange(6)
    if kind == 0:
        c = pick(rng, f["countries"])
        return (f"What is the capital of {c['name']}?", c["capital"], [x["capital"] for x in f["countries"]],
                f"The capital of {c['name']} is ____.")
    if kind == 1:
        c = pick(rng, f["countries"])
        continents = sorted({x["continent"] for x in f["countries"]})
        return (f"On which continent is {c['name']}?", c["continent"], continents,
                f"{c['name']} is a country in ____.")
    if kind == 2:
        e = pick(rng, f["elements"])
        return (f"What is the chemical symbol of {e['name']}?", e["symbol"], [x["symbol"] for x in f["elements"]],
                f"The chemical symbol of {e['name']} is ____.")
    if kind == 3:
        e = pick(rng, f["elements"])
        numbers = [str(x["number"]) for x in f["elements"]]
        return (f"What is the atomic number of {e['name']}?", str(e["number"]), numbers,
                f"The atomic number of {e['name']} is ____.")
    if kind == 4:
        p = pick(rng, f["planets"])
        return (f"Which planet is number {p['order']} from the Sun?", p["name"], [x["name"] for x in f["planets"]],
                f"Planet number {p['order']} from the Sun is ____.")
    u = pick(rng, f["units"])
    return (f"Which unit measures {u['quantity']}?", u["name"], [x["name"] for x in f["units"]],
            f"The SI unit of {u['quantity']} is the ____.")


def _options(rng: random.Random, answer: str, pool: list[str]) -> list[str]:
    wrong = sorted({x for x in pool if x != answer})
    options = [answer, *rng.sample(wrong, min(3, len(wrong)))]
    rng.shuffle(options)
    return options


def _qa(rng: random.Random, ctx: Context) -> dict[str, Any]:
    question, answer, _, _ = _fact(rng, ctx)
    return {"text": f"Question: {question}\nAnswer: {answer}", "question": question, "answer": answer}


def _mc_text(rng: random.Random, ctx: Context) -> dict[str, Any]:
    question, answer, pool, _ = _fact(rng, ctx)
    options = _options(rng, answer, pool)
    letters = "ABCD"
    listed = "\n".join(f"{letters[i]}. {o}" for i, o in enumerate(options))
    letter = letters[options.index(answer)]
    return {"text": f"{question}\n{listed}\nAnswer: {letter}. {answer}", "question": question, "options": options,
            "answer": answer}


def _mc_json(rng: random.Random, ctx: Context) -> dict[str, Any]:
    question, answer, pool, _ = _fact(rng, ctx)
    options = _options(rng, answer, pool)
    task = {"question": question, "options": options, "answer": answer}
    return {"text": json.dumps(task, ensure_ascii=False), "question": question, "options": options, "answer": answer}


def _cloze(rng: random.Random, ctx: Context) -> dict[str, Any]:
    _, answer, _, sentence = _fact(rng, ctx)
    return {"text": f"Fill in the blank: {sentence}\nAnswer: {answer}", "question": sentence, "answer": answer}


def _summary(rng: random.Random, ctx: Context) -> dict[str, Any]:
    c = pick(rng, ctx.facts["countries"])
    sentences = [f"Travellers who arrive in {c['capital']} often remark on its busy streets.",
                 f"{c['capital']} is the seat of the government of {c['name']}.",
                 f"Many people in {c['name']} speak {c['language']}.",
                 f"Shops and markets there take payment in the {c['currency']}.",
                 f"{c['name']} itself is located in {c['continent']}."]
    rng.shuffle(sentences)
    summary = (f"{c['name']}, a country in {c['continent']} where many speak {c['language']}, has its capital at "
               f"{c['capital']} and uses the {c['currency']}.")
    text = "Summarise the passage in one sentence.\n\nPassage: " + " ".join(sentences) + f"\n\nSummary: {summary}"
    return {"text": text, "question": "Summarise the passage in one sentence.", "answer": summary}


TEMPLATES: dict[str, Callable[[random.Random, Context], dict[str, Any]]] = {
    "qa": _qa, "multiple_choice": _mc_text, "multiple_choice_json": _mc_json, "cloze": _cloze, "summary": _summary,
}


def generate(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(TEMPLATES))
    record = TEMPLATES[template](rng, ctx)
    return {"text": record.pop("text"), "template": template, **record}
