"""`hare serve`: an OpenAI-compatible API and the Gradio chat UI in one uvicorn process.

    hare serve --model runs/tiny-chat/final                      # http://127.0.0.1:4999, UI at /gradio/
    hare serve --model hare-q4.gguf --backend llama.cpp --api-key "$KEY" --host 0.0.0.0

Safety: the server binds to 127.0.0.1 unless `--host` says otherwise; `--api-key` (or the
HARE_API_KEY variable) makes /v1 require `Authorization: Bearer KEY` and the UI ask for the key as
its password; bodies, prompts and `max_tokens` are capped; a bad request gets a 4xx with an OpenAI
error body, a full queue a 503, and one failed generation never takes the server down.

This module only needs the core install, so `hare serve --help` works everywhere; the serve extra is
checked when the server starts.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from typing import Literal

from hare.config import option
from hare.errors import HareError
from hare.generate import ModelArgs
from hare.serve import require

Backend = Literal["transformers", "llama.cpp", "vllm"]


@dataclass(kw_only=True)
class ServeConfig(ModelArgs):
    host: str = option("127.0.0.1", "address to bind; 0.0.0.0 exposes the server to the network")
    port: int = option(4999, "port to bind; 0 picks a free one (the URL is printed on start)")
    backend: Backend = option("transformers", "transformers (CPU/GPU, batched), llama.cpp (a .gguf --model) "
                                              "or vllm (GPU, when installed)")
    api_key: str | None = option(None, "require `Authorization: Bearer KEY` on /v1 and KEY as the UI password "
                                       "(default: the HARE_API_KEY environment variable, if set)")
    served_model_name: str | None = option(None, "model id shown by /v1/models (default: the model's folder name)")
    max_batch: int = option(16, "sequences decoded together (transformers backend)")
    max_waiting: int = option(64, "requests that may wait for a slot; more are answered 503")
    max_prompt_tokens: int = option(0, "longest prompt accepted, in tokens; 0 means the model's context")
    max_tokens: int = option(1024, "largest max_tokens a request may ask for; also chat's default")
    max_body_bytes: int = option(1_000_000, "largest request body; larger ones are answered 413")
    threads: int = option(0, "CPU threads for the model's math (transformers on CPU, llama.cpp); "
                             "0: all cores but one, which is left to the HTTP side")
    ui: bool = option(True, "serve the Gradio chat UI at /gradio/")



def _bind(host: str, port: int) -> socket.socket:
    """Bind before uvicorn starts, so `--port 0` gets a free port whose number we can print."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        raise HareError(f"cannot listen on {host}:{port} ({err.strerror}); pick another --port or --host") from None
    return sock


def run(cfg: ServeConfig) -> None:
    for name in ("max_batch", "max_waiting", "max_tokens", "max_body_bytes"):
        if getattr(cfg, name) < 1:
            raise HareError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    uvicorn = require("uvicorn")
    require("fastapi")
    if cfg.ui:
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        require("gradio")
    cfg.api_key = cfg.api_key or os.environ.get("HARE_API_KEY") or None
    from hare.serve.app import build_app
    from hare.serve.backends import build_engine

    sock = _bind(cfg.host, cfg.port)
    engine = build_engine(cfg)
    app = build_app(engine, cfg)
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(f"HARE serving {engine.model_name} ({engine.backend}) at {url}/v1"
          + (f", chat UI at {url}/gradio/" if cfg.ui else ""), flush=True)
    if cfg.host not in ("127.0.0.1", "localhost", "::1") and not cfg.api_key:
        print("warning: listening beyond this machine without --api-key: anyone who can reach it can use it",
              file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
    try:
        server.run(sockets=[sock])
    finally:
        engine.close()

