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

import dataclasses
import os
import socket
import sys

from hare.errors import HareError
from hare.io.extras import import_extra
from hare.serve.config import ServeConfig

__all__ = ["ServeConfig", "run"]  # the command table finds the config here, beside `run`

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
    cfg.validate()
    uvicorn = import_extra("uvicorn", "serve", "hare serve")
    import_extra("fastapi", "serve", "hare serve")
    if cfg.ui:
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        import_extra("gradio", "serve", "the chat UI (--ui)")
    cfg = dataclasses.replace(cfg, api_key=cfg.api_key or os.environ.get("HARE_API_KEY") or None)
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

