"""The `conversion` strategy: unit, temperature, date/time and currency conversions, each explained.

Factors are exact definitions (1 inch = 2.54 cm, 1 lb = 0.45359237 kg, 1 US gallon = 3.785411784 L);
dates are computed with `datetime`. Records keep `value` and `result` (rounded to 2 decimals).
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from typing import Any

from hare.data.synth.common import Context, fmt, names, pick

# (from, to, factor): value in `from` × factor = value in `to`
UNITS = {
    "length": [("kilometres", "metres", 1000), ("metres", "centimetres", 100), ("miles", "kilometres", 1.609344),
               ("inches", "centimetres", 2.54), ("feet", "metres", 0.3048)],
    "mass": [("kilograms", "grams", 1000), ("pounds", "kilograms", 0.45359237), ("tonnes", "kilograms", 1000)],
    "volume": [("litres", "millilitres", 1000), ("US gallons", "litres", 3.785411784),
               ("cubic metres", "litres", 1000)],
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CURRENCIES = ("dollars", "euros", "pounds", "yen", "francs", "crowns", "pesos", "rupees")
Conversion = tuple[str, float, float]  # text, value, result


def _units(quantity: str) -> Callable[[random.Random], Conversion]:
    def convert(rng: random.Random) -> Conversion:
        src, dst, factor = pick(rng, UNITS[quantity])
        value = rng.randint(1, 5000) / pick(rng, (1, 10, 100, 4))
        result = round(value * factor, 2)
        ask = pick(rng, (f"How many {dst} are in {fmt(value)} {src}?", f"Convert {fmt(value)} {src} to {dst}.",
                         f"Express {fmt(value)} {src} in {dst}.", f"What is {fmt(value)} {src} in {dst}?"))
        if rng.random() < 0.5:
            text = (f"{ask}\n\nThe factor from {src} to {dst} is {factor}, so multiply: {fmt(value)} × {factor} = "
                    f"{fmt(result)}. {fmt(value)} {src} is {fmt(result)} {dst}.")
        else:
            text = (f"{ask}\n\nThis is a {quantity} conversion. To go from {src} to {dst}, multiply by {factor}. "
                    f"{fmt(value)} × {factor} = {fmt(result)}, so the answer is {fmt(result)} {dst}.")
        return text, value, result
    return convert


def _temperature(rng: random.Random) -> Conversion:
    # to a tenth of a degree (so C × 9/5 stays exact at two decimals) over -200 … 3000: whole degrees over
    # -40 … 250 gave a few hundred distinct problems, and 67 % of the documents were repeats
    given = rng.randint(-2000, 30000) / 10
    if rng.random() < 0.5:
        c, f = given, round(given * 9 / 5 + 32, 2)
        return (f"{pick(rng, ('What is', 'Convert', 'Express'))} {fmt(c)} °C in degrees Fahrenheit?\n\n"
                f"Use F = C × 9/5 + 32. {fmt(c)} × 9/5 = {fmt(c * 9 / 5)}, and {fmt(c * 9 / 5)} + 32 = {fmt(f)}. "
                f"So {fmt(c)} °C is {fmt(f)} °F."), c, f
    f, c = given, round((given - 32) * 5 / 9, 2)
    return (f"{pick(rng, ('What is', 'Convert', 'Express'))} {fmt(f)} °F in degrees Celsius?\n\n"
            f"Use C = (F - 32) × 5/9. {fmt(f)} - 32 = {fmt(f - 32)}, and {fmt(f - 32)} × 5/9 = {fmt(c)}. "
            f"So {fmt(f)} °F is {fmt(c)} °C."), f, c


def _date(rng: random.Random) -> datetime.date:
    return datetime.date(1900, 1, 1) + datetime.timedelta(days=rng.randrange(365 * 200))


def _add_days(rng: random.Random) -> Conversion:
    start, days = _date(rng), rng.randint(1, 400)
    end = start + datetime.timedelta(days=days)
    return (f"What date is {days} days after {start:%B} {start.day}, {start.year}?\n\n"
            f"Counting {days} days forward from {start.isoformat()} lands on {end.isoformat()}, "
            f"which is {end:%B} {end.day}, {end.year}, a {WEEKDAYS[end.weekday()]}."), days, end.toordinal()


def _weekday(rng: random.Random) -> Conversion:
    day = _date(rng)
    ref = datetime.date(2000, 1, 1)  # a Saturday
    diff = (day - ref).days
    side = "after" if diff >= 0 else "before"
    ask = pick(rng, ("On which day of the week did {} fall?", "What day of the week was {}?", "Which weekday was {}?"))
    return (ask.format(f"{day:%B} {day.day}, {day.year}") + "\n\n"
            f"January 1, 2000 was a Saturday. {day.isoformat()} is {abs(diff)} days {side} it, and {diff} mod 7 = "
            f"{diff % 7}. Counting {diff % 7} days on from Saturday gives {WEEKDAYS[day.weekday()]}."
            ), diff, day.weekday()


def _duration(rng: random.Random) -> Conversion:
    start = rng.randrange(0, 24 * 60)
    length = rng.randrange(5, 12 * 60)
    end = (start + length) % (24 * 60)
    h, m = divmod(length, 60)
    return (f"A train leaves at {start // 60:02d}:{start % 60:02d} and arrives at {end // 60:02d}:{end % 60:02d} "
            f"the same or the next day, within half a day. How long is the journey?\n\n"
            f"From {start // 60:02d}:{start % 60:02d} to {end // 60:02d}:{end % 60:02d} is {length} minutes, "
            f"which is {h} hours and {m} minutes."), start, length


def _currency(rng: random.Random) -> Conversion:
    src, dst = rng.sample(CURRENCIES, 2)
    rate = rng.randint(5, 400) / 100
    amount = rng.randint(1, 1000)
    result = round(amount * rate, 2)
    who = names(rng, 1)[0]
    return (f"{who} changes {amount} {src} into {dst} at a rate of 1 {src} = {rate} {dst}. "
            f"How many {dst} does {who} receive?\n\n"
            f"Multiply the amount by the rate: {amount} × {rate} = {fmt(result)}. "
            f"{who} receives {fmt(result)} {dst}."), amount, result


TEMPLATES: dict[str, Callable[[random.Random], Conversion]] = {
    "length": _units("length"), "mass": _units("mass"), "volume": _units("volume"), "temperature": _temperature,
    "add_days": _add_days, "weekday": _weekday, "duration": _duration, "currency": _currency,
}


def generate(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(TEMPLATES))
    text, value, result = TEMPLATES[template](rng)
    return {"text": text, "template": template, "value": value, "result": result}
