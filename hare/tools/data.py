"""`hare tools data`: Octopus-style tool-calling data from an API spec alone.

    hare tools data --spec examples/android_apis.json --out data/tools
    hare tools data --spec my_api.json --per-function 300 --irrelevant 600 --teacher http://127.0.0.1:4999

Writes `train.jsonl` and `val.jsonl`, one `{"query", "calls", "template", "kind"}` per line, where
`calls` is the exact expected call list with defaults filled (empty for a query no function serves),
plus the spec as `tools.json`. Queries are single calls, two independent calls in one request
("parallel"), and irrelevant requests (chit-chat, general knowledge, near misses, gibberish).

The split is by wording: each function's templates, the parallel connectors (but the commonest) and the
irrelevant items are divided between train and validation, and so is every value bank, so validation accuracy
measures generalisation to phrasings and values the model never saw.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hare.config import check_range, option
from hare.errors import HareError
from hare.teacher import endpoint
from hare.tools.asides import PREFIXES, SUFFIXES, set_off
from hare.tools.calls import validate
from hare.tools.phrasing import PLACEHOLDER, Phrasing, Template, arg_phrases, generic_phrasing, load_phrase_bank
from hare.tools.readings import unarticled
from hare.tools.slots import FIX, Filler, Slot, check_slot, values_bank
from hare.tools.spec import Function, load_spec, save_spec
from hare.tools.spelling import KEYBOARD

# How two requests are joined. The commonest ways are in both splits: people join two requests with "and"
# far more than any other way, and with "and" held out (as one of the split's draws had it) the model never
# saw it join two calls — 14 of 25 two-call requests written by people lost their second call.
COMMON_CONNECTORS = ["{a} and {b}", "{a} and then {b}", "{a}, then {b}"]
COMMON_WEIGHT = 2  # each drawn as often as two of the others: a third of two-call requests
CONNECTORS = ["{a}. also {b}", "{a} and also {b}", "first {a}, then {b}", "{a}; {b}", "{a} and after that {b}",
              "{a}, and {b} too", "{a} plus {b}", "{a}. after that, {b}", "{a}, also {b}", "{a} & {b}",
              "{a}, and then {b}", "{a}. then {b}", "{a}, {b}", "{a} then {b}", "{a}, and also {b}"]
# A share of single calls gets a greeting before or a tail after (`hare.tools.asides`).
PREFIX_SHARE, SUFFIX_SHARE = 0.15, 0.25
# After words a person chose (a message, a title, a topic), a bare tail reads as part of them: anyone labelling
# "text Ana running late now" or "… notes are attached!!" keeps "now" and "!!" in the message, and the
# hand-written requests do. The generator labelled such tails as outside the value, so 4-6 of every 400 held-out
# queries had an answer no reader would give, and training taught the model to cut real words. After these
# values a tail is set off by a comma or is a polite word ("… to Mom please"), which people do leave out.
WORDED = ("message", "email_title", "email_content", "news_topic", "video_query", "event_title", "alarm_label")
# People type on phones: a share of requests gets one slip in a word of its wording (never in a value, which
# the call must copy as typed). The bank's one misspelt template ('birghtness {level}') was a no-call or a
# wrong function every time in held-out scoring: the model had never seen a misspelt word.
TYPO_SHARE = 0.1
# What a tool model says no to wrongly is a near miss: every held-out no-call it answered with a call was a
# near miss or a "contrast" request ("report +33 743 602 442 as spam", "get me a lyft to the airport"), never
# chit-chat, a knowledge question or gibberish. So in training those two kinds are drawn as often as two of the
# others; validation keeps the kinds even, so that its no-call column compares with earlier runs.
NEAR_MISSES, NEAR_MISS_WEIGHT = ("near_miss", "contrast"), 2
# Every drawn request's calls are checked against the spec before they are kept; one that fails is drawn again,
# and a function whose requests fail this many times in a row has an argument whose values seldom or never fit.
ATTEMPTS = 20
MAX_PER_FUNCTION = 100_000  # --per-function's bound (see ToolDataConfig.validate)
Drawn = tuple[str, list[dict[str, Any]], str, list[str]]  # (query, calls, template id, surfaces to keep)
PARAPHRASE_PROMPT = ("Rewrite this request to a phone assistant in different words, as a user would type it. "
                     "Keep these exact strings unchanged: {keep}. Reply with the rewritten request only.\n\n"
                     "Request: {query}")


@dataclass(kw_only=True)
class ToolDataConfig:
    spec: str = option("android", "API spec: a JSON file of OpenAI tool definitions, or 'android' (bundled)")
    out: str = option("data/tools", "output directory (train.jsonl, val.jsonl, tools.json)")
    per_function: int = option(200, "training queries per function (validation gets val_fraction as many); they "
                                    "repeat once a function's distinct wordings and values are used up")
    irrelevant: int = option(400, "training queries that no function serves (answer: no call); they repeat once "
                                  "the phrase bank's distinct ones are used up")
    parallel: int = option(200, "training queries with two independent calls")
    val_fraction: float = option(0.25, "share of templates, connectors and values held out for validation")
    novel_values: float = option(0.5, "share of training values made up (new word combinations, invented words) "
                                      "so the model learns to copy values rather than memorise the banks")
    phrases: str | None = option(None, "your phrase bank YAML (same format as hare/tools/phrases/android_apis.yaml)")
    teacher: str | None = option(None, "OpenAI-compatible server whose paraphrases are added (verified)")
    teacher_model: str = option("default", "model name sent to the teacher")
    teacher_fraction: float = option(0.2, "share of single-call queries sent to the teacher for a paraphrase")
    seed: int = option(0, "random seed; the same seed gives the same data")
    overwrite: bool = option(False, "replace an existing output directory")

    def validate(self) -> None:
        # Every query is drawn and held in memory before anything is written, so a count has a finite bound:
        # 10**20 drew for ever. 100,000 per function is 2 million training queries for the bundled 20 functions,
        # hundreds of times what a tool model needs; the quickstart asks up to 5 queries of the other kinds per
        # function query, so those are bounded ten times higher.
        for name, n, high in (("--per-function", self.per_function, MAX_PER_FUNCTION),
                              ("--irrelevant", self.irrelevant, 10 * MAX_PER_FUNCTION),
                              ("--parallel", self.parallel, 10 * MAX_PER_FUNCTION)):
            check_range(name, n, 0, high, fix="a few hundred is typical")
        # Wordings and value banks are split by this share: past half, some banks leave training nothing to draw;
        # under a twentieth, validation gets no request of a function (per_function × share rounds to 0).
        check_range("--val-fraction", self.val_fraction, 0.05, 0.5, fix="the default 0.25 holds out a quarter")
        check_range("--teacher-fraction", self.teacher_fraction, 0, 1)
        if self.teacher:
            endpoint(self.teacher)  # a malformed URL fails now, not after the requests are drawn
        check_range("--novel-values", self.novel_values, 0, 1)


class Generator:
    """Draws queries for one split; deterministic given the seed."""

    def __init__(self, phrasings: list[Phrasing], split: str, cfg: ToolDataConfig) -> None:
        self.split, self.cfg = split, cfg
        self.rng = random.Random(f"{cfg.seed}:{split}")
        self.filler = Filler(self.rng, split, cfg.seed, cfg.val_fraction, cfg.novel_values)
        self.phrasings = {p.function.name: (p, self.half(p.templates, p.function.name)) for p in phrasings}
        self.prefixes, self.suffixes = self.half(PREFIXES, "prefixes"), self.half(SUFFIXES, "suffixes")
        self.set_off_suffixes = [s for s in self.suffixes if set_off(s)]  # the only ones after a WORDED value

    def half(self, items: list[Any], key: str) -> list[Any]:
        """This split's share of `items`; at least one each when there are two or more."""
        if len(items) < 2:
            return items
        order = random.Random(f"{self.cfg.seed}:split:{key}").sample(items, len(items))
        cut = min(len(items) - 1, max(1, round(len(items) * self.cfg.val_fraction)))
        return order[:cut] if self.split == "val" else order[cut:]

    def single(self, fn: Function) -> Drawn:
        """(query, [call], template id, the surfaces that a paraphrase must keep)."""
        query, call, template, surfaces, ends_with = self.worded(fn)
        return self.dress(query, ends_with, surfaces[-1] if surfaces else ""), [call], template, surfaces

    def two(self, functions: list[Function], connectors: list[str]) -> Drawn:
        """Two independent requests in one: (query, [call, call], template ids, surfaces)."""
        a, b = self.rng.sample(functions, 2)
        # Greetings and politeness go around the whole request, once: "hi, X and then Y please", never
        # "X asap and then ugh, Y" (each half dressed as a request of its own, as before, read like two).
        (qa, ca, ta, ka, _), (qb, cb, tb, kb, ends_with) = self.worded(a), self.worded(b, first=False)
        connector = self.rng.choice(connectors)
        if connector.split("{a}")[1][:1] in ",;.":  # "is it raining?, then …" is no one's
            qa = unclosed(qa, ka[-1] if ka else "")
        query = self.dress(connector.format(a=qa, b=qb), ends_with, kb[-1] if kb else "")
        return query, [ca, cb], f"{ta}+{tb}", ka + kb

    def checked(self, draw: Callable[..., Drawn], *args: Any) -> Drawn:
        """`draw(*args)` whose calls all fit the spec, drawn again when one does not (a made-up value may break a
        pattern that the bank's own values keep); a run that cannot draw one stops rather than write a call the
        spec rejects. A first draw that fits costs nothing, so data for a spec whose values all fit is unchanged."""
        problem = ""
        for _ in range(ATTEMPTS):
            drawn = draw(*args)
            problem = next((p for call in drawn[1] if (p := call_problem(self.phrasings[call["name"]][0].function,
                                                                         call["arguments"]))), "")
            if not problem:
                return drawn
        raise HareError(f"{self.cfg.spec}: no valid call in {ATTEMPTS} draws ({problem}); {FIX}")

    def worded(self, fn: Function, first: bool = True) -> tuple[str, dict[str, Any], str, list[str], str]:
        """A request for `fn` as its template words it, and the bank of the value it ends with ('' if none);
        `first`: it opens what the user says, so it may start with a capital."""
        phrasing, templates = self.phrasings[fn.name]
        template: Template = self.rng.choice(templates)
        text = template.text
        if "{args}" in text:
            optional = [a for a in fn.properties if a not in fn.required and self.rng.random() < 0.5]
            said = [a for a in fn.properties if a in fn.required or a in optional]
            text = text.replace("{args}", arg_phrases(fn, said, self.rng))
        if first and not text.startswith("{") and self.rng.random() < 0.3:  # never re-case a value
            text = text[:1].upper() + text[1:]
        if self.rng.random() < TYPO_SHARE:
            text = typo(text, self.rng)
        chosen = dict(template.fixed)
        surfaces, last = [], ""
        for arg in PLACEHOLDER.findall(text):
            value, surface = self.filler.fill(phrasing.slots[arg], chosen)
            chosen[arg], last = value, phrasing.slots[arg].kind
            surfaces.append(surface)
            text = text.replace("{" + arg + "}", surface, 1)
        query = " ".join(text.split()).strip(" ,")
        # The value ends the request also where the template closes it ("… and say {message}?"): the "?" goes
        # before a tail, which then runs on from the message ("say don't forget your lunch straight away").
        ends_with = last if surfaces and unclosed(query, surfaces[-1]).endswith(surfaces[-1]) else ""
        return query, {"name": fn.name, "arguments": unarticled(fn.properties, fn.defaults | chosen)}, template.id, \
            surfaces, ends_with

    def dress(self, query: str, ends_with: str, last: str) -> str:
        """A share of requests gets a greeting before and politeness or urgency after (see PREFIXES); `last`
        is the request's last value as said."""
        if self.rng.random() < PREFIX_SHARE:
            query = self.rng.choice(self.prefixes) + query
        if self.rng.random() < SUFFIX_SHARE:  # a value's own "?" stays: it ends the value, not the request
            tails = self.set_off_suffixes if ends_with in WORDED else self.suffixes
            query = unclosed(query, last) + self.rng.choice(tails)
        return query

    def irrelevant(self) -> tuple[str, str]:
        kinds = [*values_bank()["irrelevant"], "gibberish"]
        weight = NEAR_MISS_WEIGHT if self.split == "train" else 1
        kind = self.rng.choices(kinds, [weight if k in NEAR_MISSES else 1 for k in kinds])[0]
        if kind == "gibberish":
            words = ["".join(self.rng.choices(string.ascii_lowercase, k=self.rng.randint(2, 9)))
                     for _ in range(self.rng.randint(1, 6))]
            return " ".join(words), "irrelevant:gibberish"
        text = self.rng.choice(self.filler.half(f"irrelevant.{kind}"))
        return PLACEHOLDER.sub(lambda bank: self.filler.fill(Slot(bank[1]), {})[1], text), f"irrelevant:{kind}"

    def records(self, functions: list[Function], per_function: int, irrelevant: int, parallel: int) -> list[dict]:
        out, seen = [], set()

        def add(query: str, calls: list[dict], template: str, kind: str, keep: list[str]) -> None:
            # Training requests may repeat: a count is a weight. The no-call bank holds a few hundred distinct
            # requests, and their count is the weight of the call-or-not decision (292 distinct of 400 asked gave
            # no-call 80 % on held-out requests; 600 with repeats, 96-98 %); a function with few wordings and
            # values (a photo: ~250 distinct of 400 asked) got fewer examples than the rest, and "take a
            # picture", itself a training request, became no call. Validation never repeats.
            if query.casefold() not in seen or self.split == "train":
                seen.add(query.casefold())
                out.append({"query": query, "calls": calls, "template": template, "kind": kind, "keep": keep})

        for fn in functions:
            for _ in range(per_function):
                query, calls, template, keep = self.checked(self.single, fn)
                add(query, calls, template, "single", keep)
        for _ in range(irrelevant):
            query, template = self.irrelevant()
            add(query, [], template, "irrelevant", [])
        connectors = COMMON_CONNECTORS * COMMON_WEIGHT + self.half(CONNECTORS, "connectors")
        for _ in range(parallel if len(functions) > 1 else 0):
            query, calls, template, keep = self.checked(self.two, functions, connectors)
            add(query, calls, template, "parallel", keep)
        return out


def call_problem(fn: Function, arguments: dict[str, Any]) -> str:
    """Why a generated call is not one the spec accepts ('' when it is), by the check that model output gets
    (`calls.validate`); a value that check accepts only once it has made it canonical ("5" for an integer, a
    time as said) is refused too, since the record holds the value as drawn."""
    read = validate(fn, arguments)
    if isinstance(read, str):
        return read
    changed = next((k for k in arguments if read.get(k) != arguments[k]), None)
    return "" if changed is None else f"{fn.name}: {changed}: {arguments[changed]!r} is read as {read[changed]!r}"


def phrasing_for(fn: Function, bank: dict[str, Phrasing], where: str) -> Phrasing:
    """`fn`'s phrasing (its phrase bank's, else generic), refused with the function named when an argument
    has no value that fits its schema (an array, a pattern the inferred bank never matches, empty bounds)."""
    try:
        if fn.name not in bank:
            return generic_phrasing(fn)
        for arg, slot in bank[fn.name].slots.items():
            check_slot(arg, slot, fn.properties[arg])
        return bank[fn.name]
    except HareError as err:
        raise HareError(f"{where}: function '{fn.name}': {err}") from None


def unclosed(query: str, value: str) -> str:
    """`query` without the "?", "." or "!" that closes it, but never a value's own: the template's "?" in "say
    tickets are booked!?" goes, the message's "!" stays (stripping both left a target the query did not hold);
    a query that ends with its last `value` comes back whole."""
    body = query.rstrip("?.!")
    kept = query[:len(body) + len(value) - len(value.rstrip("?.!"))]
    return kept if kept.endswith(value) else body


def typo(text: str, rng: random.Random) -> str:
    """`text` with one slip of the fingers in one of its words of four or more letters outside {placeholders}:
    two letters swapped, one dropped, one doubled or one hit on a neighbouring key."""
    words = list(re.finditer(r"(?<![{\w])[a-zA-Z]{4,}(?![}\w])", text))
    if not words:
        return text
    word = rng.choice(words)
    w, i = word.group(0), rng.randrange(1, len(word.group(0)) - 1)
    slip = rng.randrange(4)
    if slip == 0:
        w = w[:i] + w[i + 1] + w[i] + w[i + 2:]
    elif slip == 1:
        w = w[:i] + w[i + 1:]
    elif slip == 2:
        w = w[:i] + w[i] + w[i:]
    else:
        row = next((r for r in KEYBOARD if w[i].lower() in r), None)
        if row is not None:
            j = row.index(w[i].lower())
            w = w[:i] + rng.choice([row[k] for k in (j - 1, j + 1) if 0 <= k < len(row)]) + w[i + 1:]
    return text[:word.start()] + w + text[word.end():]


def paraphrase(records: list[dict], cfg: ToolDataConfig) -> list[dict]:
    """Teacher paraphrases of some single-call queries, kept only if every slot surface survives.
    Queries without slot values are not sent: nothing could verify that a paraphrase kept their meaning."""
    from tqdm import tqdm

    from hare.teacher import chat

    rng = random.Random(f"{cfg.seed}:teacher")
    chosen = [r for r in records if r["kind"] == "single" and r["keep"] and rng.random() < cfg.teacher_fraction]
    extra = []
    for r in tqdm(chosen, desc="teacher paraphrases", unit="query"):
        keep = ", ".join(f'"{s}"' for s in r["keep"]) or "nothing"
        reply = chat(cfg.teacher, PARAPHRASE_PROMPT.format(keep=keep, query=r["query"]), cfg.teacher_model,
                     seed=cfg.seed, fix="start the teacher server or drop --teacher").strip().strip('"')
        if reply and "\n" not in reply and reply.casefold() != r["query"].casefold() \
                and all(s.casefold() in reply.casefold() for s in r["keep"]):  # the values survived
            extra.append(r | {"query": reply, "template": r["template"] + ":teacher"})
    return extra


def generate(cfg: ToolDataConfig) -> dict[str, list[dict]]:
    """Both splits in memory; `run` writes them."""
    cfg.validate()
    functions = load_spec(cfg.spec)
    if not cfg.per_function * len(functions) + cfg.irrelevant + (cfg.parallel if len(functions) > 1 else 0):
        raise HareError("nothing to generate: --per-function, --irrelevant and --parallel ask for no queries "
                        "(--parallel needs two functions); ask for at least one")
    bank = load_phrase_bank(Path(cfg.phrases) if cfg.phrases else None, functions)
    phrasings = [phrasing_for(fn, bank, cfg.spec) for fn in functions]
    splits = {}
    for split, scale in (("train", 1.0), ("val", cfg.val_fraction)):
        gen = Generator(phrasings, split, cfg)
        counts = (round(n * scale) for n in (cfg.per_function, cfg.irrelevant, cfg.parallel))
        splits[split] = gen.records(functions, *counts)
    train_queries = {r["query"].casefold() for r in splits["train"]}
    splits["val"] = [r for r in splits["val"] if r["query"].casefold() not in train_queries]
    if cfg.teacher:
        for split in splits:
            splits[split] += paraphrase(splits[split], cfg)
    return splits


def write_jsonl(path: Path, records: list[dict]) -> None:
    with path.open("w") as f:
        for r in records:
            f.write(json.dumps({k: v for k, v in r.items() if k != "keep"}, ensure_ascii=False) + "\n")


def run(cfg: ToolDataConfig) -> Path:
    from hare.io.atomic import atomic_output

    out = Path(cfg.out)
    if out.exists() and not cfg.overwrite:
        raise HareError(f"{out} already exists; pass --overwrite to replace it or choose another --out")
    splits = generate(cfg)
    spec = load_spec(cfg.spec)
    with atomic_output(out, cfg.overwrite, "--overwrite") as tmp:
        tmp.mkdir()
        for split, records in splits.items():
            write_jsonl(tmp / f"{split}.jsonl", records)
        save_spec(spec, tmp)
    functions = len(spec)
    for split, records in splits.items():
        kinds = {k: sum(r["kind"] == k for r in records) for k in ("single", "parallel", "irrelevant")}
        templates = len({r["template"].split("+")[0] for r in records})
        print(f"{split}: {len(records):,} queries ({', '.join(f'{v:,} {k}' for k, v in kinds.items())}) "
              f"from {templates} templates -> {out / (split + '.jsonl')}")
        scale = 1.0 if split == "train" else cfg.val_fraction
        asked = {"single": round(cfg.per_function * scale) * functions, "irrelevant": round(cfg.irrelevant * scale),
                 "parallel": round(cfg.parallel * scale) if functions > 1 else 0}
        short = [f"{kinds[k]:,} of {n:,} {k}" for k, n in asked.items() if kinds[k] < n]
        for kind, n in kinds.items():
            if (distinct := len({r["query"].casefold() for r in records if r["kind"] == kind})) < n:
                print(f"  {split}: the {n:,} {kind} queries repeat {distinct:,} distinct ones")
        if short:  # repeats are dropped, so a small bank gives fewer than asked
            print(f"  {split}: {', '.join(short)} after dropping repeated queries; more templates or values in the "
                  "phrase bank (--phrases) give more distinct ones")
    return out
