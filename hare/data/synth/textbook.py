"""The `textbook` strategy: short lessons of explanatory paragraphs written from `facts.json`.

A lesson opens with a paragraph from the drawn template and goes on with one or two more from the
same theme (countries, elements, planets, units), each about a subject of its own. Every statement
comes from the facts; derived numbers (ratios to Earth, neutron counts, moles in a sample, ages in
another planet's years) are computed here. Why lessons and not single paragraphs: `facts.json` holds
94 subjects, so one paragraph per document repeated itself — at 100,000 documents 84 % of textbook
documents were exact duplicates. Paragraph phrasings, sampled subsets and worked examples with drawn
numbers make each paragraph one of thousands, and a lesson of two or three of them one of millions.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from hare.data.synth.common import Context, fmt, pick

Paragraph = Callable[[random.Random, Context], tuple[str, str]]  # → text, subject
AVOGADRO = 6.02214076e23


def _country_intro(rng: random.Random, ctx: Context) -> tuple[str, str]:
    c = pick(rng, ctx.facts["countries"])
    return (pick(rng, (f"{c['name']} is a country in {c['continent']}.", f"{c['name']} lies in {c['continent']}.",
                       f"In {c['continent']} we find {c['name']}."))
            + pick(rng, (f" Its capital is {c['capital']}, where the national government sits.",
                         f" The government sits in {c['capital']}, the capital.",
                         f" Its capital city is {c['capital']}."))
            + pick(rng, (f" A widely spoken language there is {c['language']},",
                         f" Many people there speak {c['language']},", f" {c['language']} is widely spoken,"))
            + pick(rng, (f" and prices are paid in the {c['currency']}.", f" and the currency is the {c['currency']}.",
                         f" and shops take payment in the {c['currency']}."))), c["name"]


def _country_compare(rng: random.Random, ctx: Context) -> tuple[str, str]:
    a, b = rng.sample(ctx.facts["countries"], 2)
    same = a["continent"] == b["continent"]
    return (pick(rng, (f"Compare {a['name']} and {b['name']}.", f"Geography lesson: {a['name']} and {b['name']}.",
                       f"Two countries side by side: {a['name']} and {b['name']}."))
            + f" The capital of {a['name']} is {a['capital']}, while the capital of {b['name']} is {b['capital']}. "
            + (f"Both countries lie in {a['continent']}." if same else
               f"{a['name']} lies in {a['continent']}, but {b['name']} lies in {b['continent']}.")
            + pick(rng, ("", f" In {a['name']} people pay in the {a['currency']}; in {b['name']}, in the "
                             f"{b['currency']}.", f" {a['language']} is widely spoken in {a['name']}, "
                                                  f"{b['language']} in {b['name']}."))), a["name"]


def _continent(rng: random.Random, ctx: Context) -> tuple[str, str]:
    continent = pick(rng, sorted({c["continent"] for c in ctx.facts["countries"]}))
    members = [c for c in ctx.facts["countries"] if c["continent"] == continent]
    chosen = rng.sample(members, rng.randint(2, len(members)))
    listed = "; ".join(f"{c['name']} (capital {c['capital']})" for c in chosen)
    return (pick(rng, (f"Countries of {continent} include: {listed}.", f"Some countries in {continent}: {listed}.",
                       f"A few of the countries of {continent} are {listed}."))
            + pick(rng, (f" Together they show how varied {continent} is.", " Each has its own capital and history.",
                         ""))), continent


def _element_intro(rng: random.Random, ctx: Context) -> tuple[str, str]:
    e = pick(rng, ctx.facts["elements"])
    return (f"{e['name'].capitalize()} is the chemical element with symbol {e['symbol']} and atomic number "
            f"{e['number']}, so each of its atoms has {e['number']} protons."
            + pick(rng, (f" It is classed as {_a(e['category'])} and is {_a(e['state'])} at room temperature.",
                         f" Chemists class it as {_a(e['category'])}; at room temperature it is {_a(e['state'])}."))
            + pick(rng, (f" Its standard atomic weight is about {e['atomic_mass']}.",
                         f" One mole of it has a mass of about {e['atomic_mass']} g.", ""))), e["name"]


def _element_neutrons(rng: random.Random, ctx: Context) -> tuple[str, str]:
    e = pick(rng, ctx.facts["elements"])
    mass = round(e["atomic_mass"])
    return (pick(rng, (f"Counting particles in {e['name']}:", f"What is inside an atom of {e['name']}?",
                       f"The particles of {e['name']} ({e['symbol']}):"))
            + f" the atomic number {e['number']} gives the number of protons. The most common mass number is close "
            f"to the atomic weight, about {mass}, so a typical atom has about {mass} - {e['number']} = "
            f"{mass - e['number']} neutrons." + pick(rng, (f" A neutral atom also has {e['number']} electrons.",
                                                           f" Being neutral, it also has {e['number']} electrons.",
                                                           ""))), e["name"]


def _element_group(rng: random.Random, ctx: Context) -> tuple[str, str]:
    category = pick(rng, sorted({e["category"] for e in ctx.facts["elements"]}))
    members = [e for e in ctx.facts["elements"] if e["category"] == category]
    chosen = rng.sample(members, rng.randint(min(2, len(members)), len(members)))
    listed = ", ".join(f"{e['name']} ({e['symbol']}, number {e['number']})" for e in chosen)
    return (pick(rng, (f"The {category} family includes {listed}.", f"Members of the {category} group: {listed}."))
            + pick(rng, (" Elements in the same family share chemical behaviour, which is why chemists study them "
                         "together.", " Their outer electrons behave alike, so they react in similar ways.", ""))
            ), category


def _element_moles(rng: random.Random, ctx: Context) -> tuple[str, str]:
    e = pick(rng, ctx.facts["elements"])
    grams = rng.randint(1, 2000) / pick(rng, (1, 10))
    moles = grams / e["atomic_mass"]
    return (f"How many atoms are in {fmt(grams)} g of {e['name']}? One mole of {e['name']} has a mass of about "
            f"{e['atomic_mass']} g, so the sample holds {fmt(grams)} ÷ {e['atomic_mass']} ≈ {moles:.4g} mol. "
            f"A mole is {AVOGADRO:.6g} atoms, so that is about {moles * AVOGADRO:.3e} atoms."), e["name"]


def _planet_intro(rng: random.Random, ctx: Context) -> tuple[str, str]:
    p = pick(rng, ctx.facts["planets"])
    moons = "no moons" if p["moons"] == 0 else f"{p['moons']} known moon{'s' if p['moons'] != 1 else ''}"
    days = rng.randint(100, 20000)
    return (f"{p['name']} is planet number {p['order']} from the Sun and is {_a(p['type'])} planet."
            + pick(rng, (f" It is about {p['diameter_km']:,} km across and has {moons}.",
                         f" It measures about {p['diameter_km']:,} km across; it has {moons}."))
            + f" One trip around the Sun takes about {fmt(p['year_days'])} Earth days, so in {days:,} Earth days it "
            f"goes around about {days / p['year_days']:.2f} times."), p["name"]


def _planet_vs_earth(rng: random.Random, ctx: Context) -> tuple[str, str]:
    planets = ctx.facts["planets"]
    earth = next(p for p in planets if p["name"] == "Earth")
    p = pick(rng, [q for q in planets if q["name"] != "Earth"])
    ratio = p["diameter_km"] / earth["diameter_km"]
    years = p["year_days"] / earth["year_days"]
    speed = 100 * rng.randint(5, 400)
    return (pick(rng, (f"Comparing {p['name']} with Earth:", f"How does {p['name']} measure up against Earth?"))
            + f" its diameter is {p['diameter_km']:,} km against Earth's {earth['diameter_km']:,} km, a ratio of "
            f"{p['diameter_km']:,} ÷ {earth['diameter_km']:,} ≈ {ratio:.2f}."
            + pick(rng, (f" Its year lasts {fmt(p['year_days'])} days, about {years:.2f} Earth years,",
                         f" A year there is {fmt(p['year_days'])} Earth days ({years:.2f} Earth years),"))
            + f" and one rotation takes about {fmt(p['day_hours'])} hours. A probe flying at {speed:,} km/h would "
            f"cross it in {p['diameter_km']:,} ÷ {speed:,} ≈ {p['diameter_km'] / speed:.1f} hours."), p["name"]


def _planet_age(rng: random.Random, ctx: Context) -> tuple[str, str]:
    p = pick(rng, [q for q in ctx.facts["planets"] if q["name"] != "Earth"])
    age = rng.randint(1, 100)
    return (f"Birthdays on {p['name']}: a year there lasts {fmt(p['year_days'])} Earth days. Someone who is {age} "
            f"Earth years old has lived {age} × 365.25 = {fmt(age * 365.25)} days, which is {fmt(age * 365.25)} ÷ "
            f"{fmt(p['year_days'])} ≈ {age * 365.25 / p['year_days']:.2f} {p['name']} years."), p["name"]


def _unit_intro(rng: random.Random, ctx: Context) -> tuple[str, str]:
    u = pick(rng, ctx.facts["units"])
    kind = "one of the seven SI base units" if u["base"] else "a derived or accepted SI unit"
    value = fmt(rng.randint(1, 999) / pick(rng, (1, 10, 100)))
    return (f"The {u['name']} (symbol {u['symbol']}) measures {u['quantity']}. It is {kind}, defined as "
            f"{u['definition']}." + pick(rng, (f" A reading of {value} {u['symbol']} means {value} times that amount.",
                                               f" Writing {value} {u['symbol']} means {value} of these units.", ""))
            ), u["name"]


def _unit_list(rng: random.Random, ctx: Context) -> tuple[str, str]:
    units = rng.sample(ctx.facts["units"], rng.randint(3, 6))
    rows = "\n".join(f"- {u['quantity']}: the {u['name']} ({u['symbol']})" for u in units)
    return (pick(rng, ("Units and what they measure:", "Which unit for which quantity?", "A table of SI units:"))
            + f"\n{rows}\n" + pick(rng, ("Using the right unit makes a measurement clear.",
                                         "A number without its unit says little."))), "units"


THEMES: dict[str, dict[str, Paragraph]] = {
    "countries": {"country_intro": _country_intro, "country_compare": _country_compare, "continent": _continent},
    "elements": {"element_intro": _element_intro, "element_neutrons": _element_neutrons,
                 "element_group": _element_group, "element_moles": _element_moles},
    "planets": {"planet_intro": _planet_intro, "planet_vs_earth": _planet_vs_earth, "planet_age": _planet_age},
    "units": {"unit_intro": _unit_intro, "unit_list": _unit_list},
}
TEMPLATES: dict[str, Paragraph] = {name: f for theme in THEMES.values() for name, f in theme.items()}
THEME_OF = {name: theme for theme, members in THEMES.items() for name in members}


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def generate(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(TEMPLATES))
    text, subject = TEMPLATES[template](rng, ctx)
    more = THEMES[THEME_OF[template]]
    paragraphs, wanted = [text], 1 + rng.randint(1, 2)
    while len(paragraphs) < wanted:  # every theme has hundreds of distinct paragraphs, so this ends at once
        paragraph = more[pick(rng, list(more))](rng, ctx)[0]
        if paragraph not in paragraphs:
            paragraphs.append(paragraph)
    return {"text": "\n\n".join(paragraphs), "template": template, "subject": subject}
