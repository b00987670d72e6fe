"""A minimal client for a teacher LLM behind any OpenAI-compatible `/v1/chat/completions` endpoint.

HARE used teacher models (Mixtral, Qwen) to write synthetic text and to paraphrase benchmarks.
`hare data synth` (strategy `teacher`) and `hare eval leakage --teacher` both call `chat`; stdlib
`urllib` keeps it dependency-free. Temperature 0 and an explicit seed make answers repeatable on
servers that honour them (vLLM, `hare serve`).
"""

from __future__ import annotations

import json

from hare.errors import HareError

TIMEOUT_S = 120


def endpoint(url: str) -> str:
    """The chat-completions URL for a base URL (`http://host:port`, `.../v1` or the full path)."""
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise HareError(f"teacher URL '{url}' is not an http(s) URL; give one like http://127.0.0.1:8000")
    if url.endswith("/chat/completions"):
        return url
    return url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")


def chat(url: str, prompt: str, model: str = "default", api_key: str | None = None, seed: int = 0,
         fix: str = "start the server or fix the teacher URL") -> str:
    """The teacher's reply to one user prompt; any failure is a HareError naming the URL and `fix`."""
    import urllib.error
    import urllib.request

    url = endpoint(url)
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "temperature": 0, "seed": seed}
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            reply = json.loads(response.read())
        content = reply["choices"][0]["message"]["content"]
    except urllib.error.HTTPError as err:
        raise HareError(f"teacher endpoint {url} refused the request (HTTP {err.code} {err.reason}); "
                        f"check the model name and API key, or {fix}") from None
    except (urllib.error.URLError, OSError) as err:
        raise HareError(f"teacher endpoint {url} is unreachable ({getattr(err, 'reason', err)}); {fix}") from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise HareError(f"teacher endpoint {url} did not answer like an OpenAI chat-completions API; "
                        "point the teacher URL at an OpenAI-compatible server") from None
    # A null, a number or nothing had been written as the document "None", "5" or "" (synth, leakage rewrites).
    if not isinstance(content, str) or not content.strip():
        raise HareError(f"teacher endpoint {url} answered without text (content {json.dumps(content)[:40]}); "
                        "check that its model answers chat requests in text")
    return content
