"""The `teacher` strategy: textbook-style text from a teacher LLM behind an OpenAI-compatible API.

HARE's D2 is text written by a teacher model from clustered topics. Here a topic (from the facts
or a fixed list) fills a prompt template, which is POSTed to `<teacher_url>/v1/chat/completions`
with temperature 0 and a per-document seed. Only used when the mixture gives `teacher` weight; an
unreachable or refusing endpoint is a HareError naming the URL and the fix.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hare.data.synth.common import Context, pick
from hare.errors import HareError

PROMPTS = {
    "textbook_section": "Write a short textbook section about {topic} for secondary-school students.",
    "explain_like_teacher": "Explain {topic} step by step, as a teacher would, with one worked example.",
    "study_notes": "Write concise study notes on {topic}, with key facts and a short summary.",
}
TOPICS = ("photosynthesis", "the water cycle", "fractions", "Newton's laws of motion", "plate tectonics",
          "the French Revolution", "prime numbers", "how vaccines work", "supply and demand", "electric circuits")
TIMEOUT_S = 120


def endpoint(url: str) -> str:
    """The chat-completions URL for a base URL (`http://host:port`, `.../v1` or the full path)."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    return url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")


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
    import urllib.error
    import urllib.request

    assert ctx.teacher_url is not None
    url = endpoint(ctx.teacher_url)
    body = {"model": ctx.teacher_model, "messages": [{"role": "user", "content": prompt}],
            "temperature": 0, "seed": seed}
    headers = {"Content-Type": "application/json"}
    if ctx.teacher_api_key:
        headers["Authorization"] = f"Bearer {ctx.teacher_api_key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            reply = json.loads(response.read())
        return str(reply["choices"][0]["message"]["content"])
    except urllib.error.HTTPError as err:
        raise HareError(f"teacher endpoint {url} refused the request (HTTP {err.code} {err.reason}); check "
                        "--teacher-model and --teacher-api-key, or give 'teacher' weight 0 in the mixture") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise HareError(f"teacher endpoint {url} is unreachable ({reason}); start the server or fix --teacher-url, "
                        "or give 'teacher' weight 0 in the mixture") from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise HareError(f"teacher endpoint {url} did not answer like an OpenAI chat-completions API; "
                        "point --teacher-url at an OpenAI-compatible server") from None


def generate(rng: random.Random, ctx: Context) -> dict[str, Any]:
    template = pick(rng, list(PROMPTS))
    topic = _topic(rng, ctx)
    prompt = PROMPTS[template].format(topic=topic)
    return {"text": complete(ctx, prompt, rng.randrange(2**31)), "template": template, "topic": topic,
            "prompt": prompt}
