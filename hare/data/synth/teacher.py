"""The `teacher` strategy: textbook-style text from a teacher LLM behind an OpenAI-compatible API.

HARE's D2 is text written by a teacher model from clustered topics. Here a topic (from the facts
or a fixed list) fills a prompt template, which is POSTed to `<teacher_url>/v1/chat/completions`
with temperature 0 and a per-document seed. Only used when the mixture gives `teacher` weight; an
unreachable or refusing endpoint is a HareError naming the URL and the fix.
"""

from __future__ import annotations

import random
from typing import Any

from hare.data.synth.common import Context, pick
from hare.teacher import chat

PROMPTS = {
    "textbook_section": "Write a short textbook section about {topic} for secondary-school students.",
    "explain_like_teacher": "Explain {topic} step by step, as a teacher would, with one worked example.",
    "study_notes": "Write concise study notes on {topic}, with key facts and a short summary.",
}
TOPICS = ("photosynthesis", "the water cycle", "fractions", "Newton's laws of motion", "plate tectonics",
          "the French Revolution", "prime numbers", "how vaccines work", "supply and demand", "electric circuits")


def _topic(rng: random.Random, ctx: Context) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return f"the geography of {pick(rng, ctx.facts['countries'])['name']}"
    if kind == 1:
        return f"the chemical element {pick(rng, ctx.facts['elements'])['name']}"
    if kind == 2:
        return f"the planet {pick(rng, ctx.facts['planets'])['name']}"
    return pick(rng, TOPICS)


def complete(ctx: Context, prompt: str, seed: int) -> str:
    """The teacher's reply to one user prompt."""
    assert ctx.teacher_url is not None
    return chat(ctx.teacher_url, prompt, ctx.teacher_model, ctx.teacher_api_key, seed,
                fix="start the server or fix --teacher-url, or give 'teacher' weight 0 in the mixture")


def generate(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(PROMPTS))
    topic = _topic(rng, ctx)
    prompt = PROMPTS[template].format(topic=topic)
    return {"text": complete(ctx, prompt, rng.randrange(2**31)), "template": template, "topic": topic,
            "prompt": prompt}
