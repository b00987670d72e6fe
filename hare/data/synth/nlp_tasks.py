"""The `nlp_tasks` strategy: facts restructured as HARE's D3 tasks.

Question answering and cloze (a quiz of two to four items), multiple choice (as plain text, and as the
JSON object `{"question": ..., "options": [...], "answer": ...}` that is the whole text) and
summarisation. Records keep `questions` and `answers` (lists) for quizzes, `question`, `answer` and
`options` for multiple choice, `question` and `answer` for summaries.

Why quizzes and so many phrasings: `facts.json` yields a few hundred question/answer facts, so one
fact per document repeated itself (at 100,000 documents 95 % of QA and cloze documents were exact
duplicates); two to four independent facts per document make a repeat as rare as a repeated hand.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from hare.data.synth.common import Context, pick

Fact = tuple[str, str, list[str], str]  # question, answer, pool of possible answers, cloze sentence with ____

# (facts table, phrasings of the question, field holding the answer, cloze sentence); fields in braces
FACT_KINDS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("countries", ("What is the capital of {name}?", "Which city is the capital of {name}?",
                   "Name the capital city of {name}."), "capital", "The capital of {name} is ____."),
    ("countries", ("{capital} is the capital of which country?", "Which country has {capital} as its capital?"),
     "name", "{capital} is the capital of ____."),
    ("countries", ("On which continent is {name}?", "Which continent is {name} part of?"), "continent",
     "{name} is a country in ____."),
    ("countries", ("Which language is widely spoken in {name}?", "What language do many people in {name} speak?"),
     "language", "A language widely spoken in {name} is ____."),
    ("countries", ("What currency is used in {name}?", "In {name}, prices are paid in which currency?"), "currency",
     "{name} uses the ____."),
    ("elements", ("What is the chemical symbol of {name}?", "Which symbol stands for {name}?"), "symbol",
     "The chemical symbol of {name} is ____."),
    ("elements", ("Which element has the symbol {symbol}?", "The symbol {symbol} stands for which element?"), "name",
     "The element with symbol {symbol} is ____."),
    ("elements", ("What is the atomic number of {name}?", "How many protons does an atom of {name} have?"), "number",
     "The atomic number of {name} is ____."),
    ("planets", ("Which planet is number {order} from the Sun?",
                 "Counting outward from the Sun, which planet comes in position {order}?"), "name",
     "Planet number {order} from the Sun is ____."),
    ("planets", ("How many known moons does {name} have?", "What is the number of known moons of {name}?"), "moons",
     "The number of known moons of {name} is ____."),
    ("units", ("Which unit measures {quantity}?", "What is the SI unit of {quantity}?"), "name",
     "The SI unit of {quantity} is the ____."),
    ("units", ("What is the symbol of the {name}?", "How is the {name} abbreviated?"), "symbol",
     "The symbol of the {name} is ____."),
)


def _fact(rng: random.Random, ctx: Context) -> Fact:
    """One question about the facts, with its answer, the pool its wrong options come from, and a cloze."""
    table, phrasings, field, cloze = pick(rng, FACT_KINDS)
    row = pick(rng, ctx.facts[table])
    pool = sorted({str(r[field]) for r in ctx.facts[table]})
    return pick(rng, phrasings).format(**row), str(row[field]), pool, cloze.format(**row)


def _options(rng: random.Random, answer: str, pool: list[str]) -> list[str]:
    wrong = sorted({x for x in pool if x != answer})
    options = [answer, *rng.sample(wrong, min(3, len(wrong)))]
    rng.shuffle(options)
    return options


def _distinct_facts(rng: random.Random, ctx: Context) -> list[Fact]:
    """Two to four facts with different questions."""
    facts: list[Fact] = []
    wanted = rng.randint(2, 4)
    while len(facts) < wanted:  # hundreds of questions, so a repeat is rare and the loop short
        fact = _fact(rng, ctx)
        if all(fact[0] != f[0] for f in facts):
            facts.append(fact)
    return facts


def _qa(rng: random.Random, ctx: Context) -> dict[str, Any]:
    facts = _distinct_facts(rng, ctx)
    lead = pick(rng, ("", "Quiz.\n\n", "Answer each question.\n\n", "General knowledge check.\n\n"))
    text = lead + "\n\n".join(f"Question: {q}\nAnswer: {a}" for q, a, _, _ in facts)
    return {"text": text, "questions": [f[0] for f in facts], "answers": [f[1] for f in facts]}


def _cloze(rng: random.Random, ctx: Context) -> dict[str, Any]:
    facts = _distinct_facts(rng, ctx)
    lead = pick(rng, ("Fill in the blanks.", "Complete each sentence.", "Fill in the missing word."))
    text = lead + "\n\n" + "\n".join(f"{i}. {s} Answer: {a}" for i, (_, a, _, s) in enumerate(facts, 1))
    return {"text": text, "questions": [f[3] for f in facts], "answers": [f[1] for f in facts]}


def _mc_text(rng: random.Random, ctx: Context) -> dict[str, Any]:
    question, answer, pool, _ = _fact(rng, ctx)
    options = _options(rng, answer, pool)
    letters = "ABCD"
    listed = "\n".join(f"{letters[i]}{pick(rng, ('.', ')'))} {o}" for i, o in enumerate(options))
    letter = letters[options.index(answer)]
    return {"text": f"{question}\n{listed}\nAnswer: {letter}. {answer}", "question": question, "options": options,
            "answer": answer}


def _mc_json(rng: random.Random, ctx: Context) -> dict[str, Any]:
    question, answer, pool, _ = _fact(rng, ctx)
    options = _options(rng, answer, pool)
    task = {"question": question, "options": options, "answer": answer}
    return {"text": json.dumps(task, ensure_ascii=False), "question": question, "options": options, "answer": answer}


def _summary(rng: random.Random, ctx: Context) -> dict[str, Any]:
    c = pick(rng, ctx.facts["countries"])
    pool = [pick(rng, (f"Travellers who arrive in {c['capital']} often remark on its busy streets.",
                       f"Visitors to {c['capital']} often mention its crowded markets.")),
            pick(rng, (f"{c['capital']} is the seat of the government of {c['name']}.",
                       f"The government of {c['name']} meets in {c['capital']}.")),
            pick(rng, (f"Many people in {c['name']} speak {c['language']}.",
                       f"{c['language']} is heard across {c['name']}.")),
            pick(rng, (f"Shops and markets there take payment in the {c['currency']}.",
                       f"Prices in {c['name']} are given in the {c['currency']}.")),
            pick(rng, (f"{c['name']} itself is located in {c['continent']}.",
                       f"{c['name']} lies in {c['continent']}.")),
            pick(rng, ("Local food is often cooked with fresh seasonal produce.", "Football is popular there.",
                       "Rail and bus lines link the larger towns.", "Its museums draw many school groups."))]
    passage = rng.sample(pool, rng.randint(4, len(pool)))
    summary = (f"{c['name']}, a country in {c['continent']} where many speak {c['language']}, has its capital at "
               f"{c['capital']} and uses the {c['currency']}.")
    task = pick(rng, ("Summarise the passage in one sentence.", "Write a one-sentence summary of the passage."))
    text = f"{task}\n\nPassage: " + " ".join(passage) + f"\n\nSummary: {summary}"
    return {"text": text, "question": task, "answer": summary}


TEMPLATES: dict[str, Callable[[random.Random, Context], dict[str, Any]]] = {
    "qa": _qa, "multiple_choice": _mc_text, "multiple_choice_json": _mc_json, "cloze": _cloze, "summary": _summary,
}


def generate(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(TEMPLATES))
    record = TEMPLATES[template](rng, ctx)
    return {"text": record.pop("text"), "template": template, **record}
