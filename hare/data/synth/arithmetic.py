"""The `math` strategy: arithmetic and multi-step word problems with worked solutions (GSM8K-like).

Each template draws numbers, computes the answer with Python integers, and writes the reasoning
step by step, ending in `#### <answer>`. The record keeps `expression` (the computation over the
drawn numbers, as Python arithmetic) and `answer`, so the answer can be recomputed and checked.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from hare.data.synth.common import ITEMS, Context, names, pick

Problem = tuple[str, list[str], str, int]  # question, solution steps, expression, answer


def _shop(rng: random.Random) -> Problem:
    who = names(rng, 1)[0]
    (a_one, a_many), (b_one, b_many) = rng.sample(ITEMS, 2)
    a, p, b, q = rng.randint(2, 9), rng.randint(1, 12), rng.randint(2, 9), rng.randint(1, 12)
    cost = a * p + b * q
    bill = pick(rng, [x for x in (20, 50, 100, 200) if x >= cost] or [cost + 10])
    question = (f"{who} buys {a} {a_many} at ${p} each and {b} {b_many} at ${q} each. "
                f"{who} pays with a ${bill} note. How much change does {who} get?")
    steps = [f"The {a_many} cost {a} × {p} = ${a * p}.", f"The {b_many} cost {b} × {q} = ${b * q}.",
             f"Together that is {a * p} + {b * q} = ${cost}.", f"The change is {bill} - {cost} = ${bill - cost}."]
    return question, steps, f"{bill} - ({a} * {p} + {b} * {q})", bill - cost


def _trays(rng: random.Random) -> Problem:
    who = names(rng, 1)[0]
    one, many = pick(rng, ITEMS)
    t, k = rng.randint(2, 8), rng.randint(6, 15)
    total = t * k
    s = rng.randint(1, total - 2)
    g = rng.randint(1, total - s - 1)
    question = (f"{who} has {t} boxes with {k} {many} in each box. {who} sells {s} {many} "
                f"and gives {g} to a friend. How many {many} are left?")
    steps = [f"At first there are {t} × {k} = {total} {many}.", f"{who} parts with {s} + {g} = {s + g} {many}.",
             f"Left: {total} - {s + g} = {total - s - g}."]
    return question, steps, f"{t} * {k} - ({s} + {g})", total - s - g


def _travel(rng: random.Random) -> Problem:
    who = names(rng, 1)[0]
    v, h, w, h2 = rng.randint(30, 90), rng.randint(1, 4), rng.randint(10, 60), rng.randint(1, 3)
    how = pick(rng, ("drives", "travels by coach", "rides a motorbike", "goes by bus", "travels by car"))
    ask = pick(rng, ("How many kilometres does the trip cover?", f"How far does {who} travel in total?",
                     "What is the total distance in kilometres?"))
    question = f"{who} {how} at {v} km per hour for {h} hours, then at {w} km per hour for {h2} hours. {ask}"
    steps = [f"First part: {v} × {h} = {v * h} km.", f"Second part: {w} × {h2} = {w * h2} km.",
             f"Total: {v * h} + {w * h2} = {v * h + w * h2} km."]
    return question, steps, f"{v} * {h} + {w} * {h2}", v * h + w * h2


def _saving(rng: random.Random) -> Problem:
    who = names(rng, 1)[0]
    weekly, weeks, start = rng.randint(3, 25), rng.randint(2, 20), rng.randint(0, 60)
    goal = start + weekly * weeks
    question = (f"{who} wants a bicycle that costs ${goal}. {who} already has ${start} and saves ${weekly} "
                f"every week. How many weeks until {who} can buy it?")
    steps = [f"{who} still needs {goal} - {start} = ${goal - start}.",
             f"At ${weekly} a week that takes {goal - start} ÷ {weekly} = {weeks} weeks."]
    return question, steps, f"({goal} - {start}) // {weekly}", weeks


def _sharing(rng: random.Random) -> Problem:
    a, b = names(rng, 2)
    one, many = pick(rng, ITEMS)
    n, each = rng.randint(2, 8), rng.randint(2, 12)
    extra = rng.randint(1, n * each - 1)
    have = n * each - extra
    question = (f"{a} has {have} {many}, and {b} brings {extra} more. They share all the {many} equally "
                f"among {n} people. How many {many} does each person get?")
    steps = [f"Together they have {have} + {extra} = {n * each} {many}.",
             f"Shared among {n} people: {n * each} ÷ {n} = {each} each."]
    return question, steps, f"({have} + {extra}) // {n}", each


def _discount(rng: random.Random) -> Problem:
    who = names(rng, 1)[0]
    price, pct = 20 * rng.randint(1, 60), 5 * rng.randint(1, 15)
    off = price * pct // 100
    thing = pick(rng, ("jacket", "bicycle", "lamp", "tent", "guitar", "desk", "pair of boots", "backpack", "kettle",
                       "camera", "bookcase", "scooter"))
    question = f"A {thing} costs ${price}. {who} gets a {pct}% discount. What does {who} pay?"
    steps = [f"The discount is {pct}% of {price} = {price} × {pct} ÷ 100 = ${off}.",
             f"{who} pays {price} - {off} = ${price - off}."]
    return question, steps, f"{price} - {price} * {pct} // 100", price - off


def _order_of_operations(rng: random.Random) -> Problem:
    a, b, c, d = (rng.randint(2, 30) for _ in range(4))
    question = f"Compute {a} + {b} × {c} - {d}."
    steps = ["Multiplication comes before addition and subtraction.", f"{b} × {c} = {b * c}.",
             f"{a} + {b * c} = {a + b * c}.", f"{a + b * c} - {d} = {a + b * c - d}."]
    return question, steps, f"{a} + {b} * {c} - {d}", a + b * c - d


def _ages(rng: random.Random) -> Problem:
    a, b = names(rng, 2)
    young, gap, years = rng.randint(3, 40), rng.randint(1, 30), rng.randint(2, 15)
    question = (f"{a} is {gap} years older than {b}. {b} is {young} years old. "
                f"How old will {a} be in {years} years?")
    steps = [f"{a} is now {young} + {gap} = {young + gap}.", f"In {years} years: {young + gap} + {years} = "
             f"{young + gap + years}."]
    return question, steps, f"{young} + {gap} + {years}", young + gap + years


TEMPLATES: dict[str, Callable[[random.Random], Problem]] = {
    "shop": _shop, "boxes": _trays, "travel": _travel, "saving": _saving, "sharing": _sharing,
    "discount": _discount, "order_of_operations": _order_of_operations, "ages": _ages,
}


def generate(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(TEMPLATES))
    question, steps, expression, answer = TEMPLATES[template](rng)
    lead = pick(rng, ("Question: ", "Problem: ", ""))
    text = f"{lead}{question}\n\nSolution:\n" + "\n".join(steps) + f"\n#### {answer}"
    return {"text": text, "template": template, "question": question, "expression": expression, "answer": answer}
