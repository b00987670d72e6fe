"""The `textbook` strategy: explanatory paragraphs written from `facts.json`.

Each fact type has several paragraph templates; every statement in a paragraph comes from the
facts, with derived numbers (ratios to Earth, neutron counts) computed here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from hare.data.synth.common import Context, fmt, pick

Paragraph = Callable[[random.Random, Context], tuple[str, str]]  # → text, subject


def _country_intro(rng: random.Random, ctx: Context) -> tuple[str, str]:
    c = pick(rng, ctx.facts["countries"])
    return (f"{c['name']} is a country in {c['continent']}. Its capital is {c['capital']}, where the national "
            f"government sits. A widely spoken language there is {c['language']}, and prices are paid in the "
            f"{c['currency']}."), c["name"]


def _country_compare(rng: random.Random, ctx: Context) -> tuple[str, str]:
    a, b = rng.sample(ctx.facts["countries"], 2)
    same = a["continent"] == b["continent"]
    return (f"Geography lesson: {a['name']} and {b['name']}. The capital of {a['name']} is {a['capital']}, while "
            f"the capital of {b['name']} is {b['capital']}. "
            + (f"Both countries lie in {a['continent']}." if same else
               f"{a['name']} lies in {a['continent']}, but {b['name']} lies in {b['continent']}.")), a["name"]


def _continent(rng: random.Random, ctx: Context) -> tuple[str, str]:
    continent = pick(rng, sorted({c["continent"] for c in ctx.facts["countries"]}))
    members = [c for c in ctx.facts["countries"] if c["continent"] == continent]
    listed = "; ".join(f"{c['name']} (capital {c['capital']})" for c in members)
    return f"Countries of {continent} include: {listed}. Together they show how varied {continent} is.", continent


def _element_intro(rng: random.Random, ctx: Context) -> tuple[str, str]:
    e = pick(rng, ctx.facts["elements"])
    return (f"{e['name'].capitalize()} is the chemical element with symbol {e['symbol']} and atomic number "
            f"{e['number']}, so each of its atoms has {e['number']} protons. It is classed as a {e['category']} "
            f"and is a {e['state']} at room temperature. Its standard atomic weight is about "
            f"{e['atomic_mass']}."), e["name"]


def _element_neutrons(rng: random.Random, ctx: Context) -> tuple[str, str]:
    e = pick(rng, ctx.facts["elements"])
    mass = round(e["atomic_mass"])
    return (f"Counting particles in {e['name']}: the atomic number {e['number']} gives the number of protons. "
            f"The most common mass number is close to the atomic weight, about {mass}, so a typical atom has about "
            f"{mass} - {e['number']} = {mass - e['number']} neutrons. A neutral atom also has {e['number']} "
            "electrons."), e["name"]


def _element_group(rng: random.Random, ctx: Context) -> tuple[str, str]:
    category = pick(rng, sorted({e["category"] for e in ctx.facts["elements"]}))
    members = [e for e in ctx.facts["elements"] if e["category"] == category]
    listed = ", ".join(f"{e['name']} ({e['symbol']})" for e in members)
    return (f"The {category} family: {listed}. Elements in the same family share chemical behaviour, "
            f"which is why chemists study them together."), category


def _planet_intro(rng: random.Random, ctx: Context) -> tuple[str, str]:
    p = pick(rng, ctx.facts["planets"])
    moons = "no moons" if p["moons"] == 0 else f"{p['moons']} known moon{'s' if p['moons'] != 1 else ''}"
    return (f"{p['name']} is planet number {p['order']} from the Sun and is a {p['type']} planet. It is about "
            f"{p['diameter_km']:,} km across and has {moons}. One trip around the Sun takes about "
            f"{fmt(p['year_days'])} Earth days."), p["name"]


def _planet_vs_earth(rng: random.Random, ctx: Context) -> tuple[str, str]:
    planets = ctx.facts["planets"]
    earth = next(p for p in planets if p["name"] == "Earth")
    p = pick(rng, [q for q in planets if q["name"] != "Earth"])
    ratio = p["diameter_km"] / earth["diameter_km"]
    years = p["year_days"] / earth["year_days"]
    return (f"Comparing {p['name']} with Earth: its diameter is {p['diameter_km']:,} km against Earth's "
            f"{earth['diameter_km']:,} km, a ratio of {p['diameter_km']:,} ÷ {earth['diameter_km']:,} ≈ {ratio:.2f}. "
            f"Its year lasts {fmt(p['year_days'])} days, about {years:.2f} Earth years, and one rotation takes "
            f"about {fmt(p['day_hours'])} hours."), p["name"]


def _unit_intro(rng: random.Random, ctx: Context) -> tuple[str, str]:
    u = pick(rng, ctx.facts["units"])
    kind = "one of the seven SI base units" if u["base"] else "a derived or accepted SI unit"
    return (f"The {u['name']} (symbol {u['symbol']}) measures {u['quantity']}. It is {kind}, defined as "
            f"{u['definition']}."), u["name"]


def _unit_list(rng: random.Random, ctx: Context) -> tuple[str, str]:
    units = rng.sample(ctx.facts["units"], 4)
    rows = "\n".join(f"- {u['quantity']}: the {u['name']} ({u['symbol']})" for u in units)
    return f"Units and what they measure:\n{rows}\nUsing the right unit makes a measurement clear.", "units"


TEMPLATES: dict[str, Paragraph] = {
    "country_intro": _country_intro, "country_compare": _country_compare, "continent": _continent,
    "element_intro": _element_intro, "element_neutrons": _element_neutrons, "element_group": _element_group,
    "planet_intro": _planet_intro, "planet_vs_earth": _planet_vs_earth, "unit_intro": _unit_intro,
    "unit_list": _unit_list,
}


def generate(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(TEMPLATES))
    text, subject = TEMPLATES[template](rng, ctx)
    return {"text": text, "template": template, "subject": subject}
