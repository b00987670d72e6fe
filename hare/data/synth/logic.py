"""The `logic` strategy: ordering puzzles, syllogisms and knights-and-knaves truth puzzles.

Ordering puzzles state adjacent comparisons of a hidden order in shuffled order and derive the
full order by chaining them. Truth puzzles are solved by trying every knight/knave assignment;
only puzzles with exactly one consistent assignment are kept. A syllogism document reasons about
real categories, then practises a form of its own with made-up words (validity is a matter of
form, not content — and a handful of real category chains alone made 99.6 % of syllogism
documents exact duplicates at 100,000 documents). Records keep `answers`, one per question.
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
              "animals that live in water"), ("sedans", "cars", "vehicles"), ("squares", "rectangles", "polygons"),
              ("tulips", "flowers", "plants"), ("salmon", "fish", "vertebrates"), ("hammers", "hand tools", "tools"),
              ("poodles", "dogs", "mammals"), ("cellos", "string instruments", "musical instruments"),
              ("granite", "igneous rocks", "rocks"), ("sonnets", "poems", "written works"),
              ("kayaks", "boats", "vessels"), ("hexagons", "polygons", "shapes"), ("owls", "birds", "vertebrates"),
              ("lemons", "citrus fruits", "fruits"), ("bees", "insects", "animals"), ("ferries", "ships", "vessels"))
SYLLABLES = ("bli", "ket", "dax", "wug", "fen", "zor", "mip", "tov", "gra", "lum", "sna", "pell", "quo", "ribb",
             "vex", "yant", "hoz", "crin", "dwe", "jol")
# (premises and question with {a} {b} {c}, reasoning, answer): valid and invalid forms over made-up terms
FORMS = (
    ("All {a} are {b}. All {b} are {c}. Are all {a} {c}?",
     "every one of the {a} is among the {b}, and every one of the {b} is among the {c}", "yes"),
    ("All {a} are {b}. Some {c} are {b}. Must some {a} be {c}?",
     "the {c} that are {b} could all be {b} other than {a}", "not necessarily"),
    ("No {b} are {c}. All {a} are {b}. Can any {a} be {c}?",
     "each of the {a} is one of the {b}, and none of the {b} is one of the {c}", "no"),
    ("All {b} are {c}. Some {a} are {b}. Must some {a} be {c}?",
     "those {a} that are {b} are also {c}, because every one of the {b} is", "yes"),
    ("All {a} are {b}. No {c} are {a}. Must it be that no {c} are {b}?",
     "the {b} may include things other than {a}, and some of those could be {c}", "not necessarily"),
)
Puzzle = tuple[str, list[str]]  # text, answers


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
    return text, [answer]


def _made_up_word(rng: random.Random) -> str:
    return "".join(rng.sample(SYLLABLES, rng.randint(2, 3))) + "s"


def _syllogism(rng: random.Random) -> Puzzle:
    a, b, c = pick(rng, CATEGORIES)
    question, why, answer = FORMS[rng.randrange(2)]  # the forms that read true of real categories
    terms = {"a": a, "b": b, "c": c}
    real = f"{question.format(**terms)}\n\nReasoning: {why.format(**terms)}. Answer: {answer}."
    made_up = dict(zip("abc", rng.sample(sorted({_made_up_word(rng) for _ in range(6)}), 3), strict=True))
    form, form_why, form_answer = pick(rng, FORMS)
    practice = (f"{pick(rng, ('Now the same kind of reasoning with made-up words.', 'Practice with nonsense words:'))}"
                f" {form.format(**made_up)}\n\nReasoning: {form_why.format(**made_up)}. Answer: {form_answer}.")
    return f"{real}\n\n{practice}", [answer, form_answer]


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
    rules = pick(rng, ("On an island, knights always tell the truth and knaves always lie.",
                       "Every islander is a knight, who always tells the truth, or a knave, who always lies.",
                       "You meet two islanders; knights never lie and knaves never tell the truth."))
    text = (f"{rules} {a} says: \"{sa.format(o=b)}.\" {b} says: \"{sb.format(o=a)}.\" What are {a} and {b}?"
            "\n\nReasoning: try every case: " + "; ".join(checks) + f". Only one case works. Answer: {answer}.")
    return text, [answer]


TEMPLATES: dict[str, Callable[[random.Random], Puzzle]] = {
    "ordering": _ordering, "syllogism": _syllogism, "knights_knaves": _knights,
}


def generate(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(TEMPLATES))
    text, answers = TEMPLATES[template](rng)
    return {"text": text, "template": template, "answers": answers}
