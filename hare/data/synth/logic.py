"""The `logic` strategy: ordering puzzles, syllogisms and knights-and-knaves truth puzzles.

Ordering puzzles state adjacent comparisons of a hidden order in shuffled order and derive the
full order by chaining them. Truth puzzles are solved by trying every knight/knave assignment;
only puzzles with exactly one consistent assignment are kept. Records keep `answer`.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

from hare.data.synth.common import Context, names, pick

RELATIONS = (("taller", "shorter", "tallest", "shortest"), ("older", "younger", "oldest", "youngest"),
             ("faster", "slower", "fastest", "slowest"), ("heavier", "lighter", "heaviest", "lightest"))
CATEGORIES = (("robins", "birds", "animals"), ("oaks", "trees", "plants"), ("violins", "string instruments",
              "musical instruments"), ("sparrows", "birds", "creatures with feathers"), ("trout", "fish",
              "animals that live in water"), ("sedans", "cars", "vehicles"), ("squares", "rectangles", "polygons"))
Puzzle = tuple[str, str]  # text, answer


def _ordering(rng: random.Random) -> Puzzle:
    more, less, most, least = pick(rng, RELATIONS)
    people = names(rng, rng.randint(3, 5))  # hidden order, most first
    facts = [f"{a} is {more} than {b}." for a, b in itertools.pairwise(people)]
    rng.shuffle(facts)
    chain = " > ".join(people)
    ask_most = rng.random() < 0.5
    answer = people[0] if ask_most else people[-1]
    text = (" ".join(facts) + f" Who is the {most if ask_most else least}?\n\nReasoning: linking the comparisons "
            f"from the {most} down gives {chain} (each is {more} than the next). "
            f"The full order from {most} to {least} is {', '.join(people)}. Answer: {answer}.")
    return text, answer


def _syllogism(rng: random.Random) -> Puzzle:
    a, b, c = pick(rng, CATEGORIES)
    if rng.random() < 0.5:
        return (f"All {a} are {b}. All {b} are {c}. Are all {a} {c}?\n\nReasoning: every one of the {a} is among "
                f"the {b}, and every one of the {b} is among the {c}, so every one of the {a} is among the {c}. "
                "Answer: yes."), "yes"
    return (f"All {a} are {b}. Some {c} are {b}. Must some {a} be {c}?\n\nReasoning: the {c} that are {b} "
            f"could all be {b} other than {a}, so nothing forces the {a} and the {c} to overlap. "
            "Answer: not necessarily."), "not necessarily"


STATEMENTS: tuple[tuple[str, Callable[[bool, bool], bool]], ...] = (
    ("{o} is a knave", lambda me, other: not other),
    ("{o} is a knight", lambda me, other: other),
    ("we are both knights", lambda me, other: me and other),
    ("we are both knaves", lambda me, other: not me and not other),
    ("at least one of us is a knave", lambda me, other: not me or not other),
    ("we are the same kind", lambda me, other: me == other),
    ("we are different kinds", lambda me, other: me != other),
)


def _knights(rng: random.Random) -> Puzzle:
    a, b = names(rng, 2)
    while True:
        (sa, fa), (sb, fb) = pick(rng, STATEMENTS), pick(rng, STATEMENTS)
        # A knight's statement is true, a knave's false: the statement's truth must equal the speaker's kind.
        worlds = [(x, y) for x in (True, False) for y in (True, False) if fa(x, y) == x and fb(y, x) == y]
        if len(worlds) == 1:
            break
    x, y = worlds[0]
    kind = {True: "a knight", False: "a knave"}
    checks = []
    for ka, kb in itertools.product((True, False), repeat=2):
        ok = fa(ka, kb) == ka and fb(kb, ka) == kb
        checks.append(f"if {a} is {kind[ka]} and {b} is {kind[kb]}, the statements are "
                      f"{'consistent' if ok else 'contradictory'}")
    answer = f"{a} is {kind[x]} and {b} is {kind[y]}"
    text = (f"On an island, knights always tell the truth and knaves always lie. {a} says: \"{sa.format(o=b)}.\" "
            f"{b} says: \"{sb.format(o=a)}.\" What are {a} and {b}?\n\nReasoning: try every case: "
            + "; ".join(checks) + f". Only one case works. Answer: {answer}.")
    return text, answer


TEMPLATES: dict[str, Callable[[random.Random], Puzzle]] = {
    "ordering": _ordering, "syllogism": _syllogism, "knights_knaves": _knights,
}


def generate(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(TEMPLATES))
    text, answer = TEMPLATES[template](rng)
    return {"text": text, "template": template, "answer": answer}
