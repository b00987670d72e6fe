"""`hare serve`'s settings, in a module of their own: the app, the engines and the command read them,
and none of those needs to import another to get at them (this module imports nothing of `hare.serve`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hare.config import check_range, option
from hare.model.args import ModelArgs

Backend = Literal["transformers", "llama.cpp", "vllm"]


@dataclass(kw_only=True)
class ServeConfig(ModelArgs):
    host: str = option("127.0.0.1", "address to bind; 0.0.0.0 exposes the server to the network")
    port: int = option(4999, "port to bind; 0 picks a free one (the URL is printed on start)")
    backend: Backend = option("transformers", "transformers (CPU/GPU, batched), llama.cpp (a .gguf --model) "
                                              "or vllm (GPU, when installed)")
    api_key: str | None = option(None, "require `Authorization: Bearer KEY` on /v1 and KEY as the UI password "
                                       "(default: the HARE_API_KEY environment variable, if set)")
    served_model_name: str | None = option(None, "model id shown by /v1/models and the chat page (default: the "
                                                 "run's name, e.g. `chat` for runs/chat/final)")
    max_batch: int = option(16, "sequences decoded together (transformers backend)")
    max_waiting: int = option(64, "requests that may wait for a slot; more are answered 503")
    max_prompt_tokens: int = option(0, "longest prompt accepted, in tokens; 0 means the model's context")
    max_tokens: int = option(1024, "largest max_tokens a request may ask for; also chat's default")
    max_body_bytes: int = option(1_000_000, "largest request body; larger ones are answered 413")
    body_timeout_s: float = option(30.0, "seconds a request body may take to arrive; a slower one is answered 408 "
                                         "(a client that declares more than it sends held its connection for ever)")
    threads: int = option(0, "CPU threads for the model's math (transformers on CPU, llama.cpp); "
                             "0: all cores but one, which is left to the HTTP side")
    ui: bool = option(True, "serve the Gradio chat UI at /gradio/")

    def validate(self) -> None:
        for name in ("max_batch", "max_waiting", "max_tokens", "max_body_bytes"):
            check_range(f"--{name.replace('_', '-')}", getattr(self, name), 1)
        # A TCP port is 16 bits: past that, binding fails with a bare OverflowError from the socket module.
        check_range("--port", self.port, 0, 65535, fix="0 picks a free one")
        check_range("--body-timeout-s", self.body_timeout_s, 0, 3600, above=True)
        # 100000 threads had been torch's "can't start new thread" traceback; a negative prompt cap refused everything.
        check_range("--threads", self.threads, 0, 4096, fix="0 uses all cores but one")
        check_range("--max-prompt-tokens", self.max_prompt_tokens, 0, fix="0 means the model's context")
