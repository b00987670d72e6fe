"""`hare chat`: talk to a chat model in the terminal through the HARE chat template.

Every turn re-renders the whole history (system prompt, all user and assistant turns) with the
tokenizer's chat template and generates until `<round_end>`. Type `/reset` to start over and `/exit`
(or Ctrl-D) to leave. When the history outgrows the context, the oldest turns are dropped.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hare.config import option
from hare.errors import HareError
from hare.generate import generate_ids, stdout_streamer
from hare.io.read import utf8_text
from hare.model.args import ModelArgs, SamplingArgs
from hare.model.template import chat_ids
from hare.model.tokenizer import DEFAULT_SYSTEM_PROMPT

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast
    from transformers.generation.streamers import BaseStreamer


@dataclass(kw_only=True)
class ChatConfig(SamplingArgs, ModelArgs):
    system: str = option(DEFAULT_SYSTEM_PROMPT, "system prompt of the conversation")


@dataclass
class ChatSession:
    """A multi-turn conversation; `send` renders all turns, generates the reply and records it."""

    model: PreTrainedModel
    tok: PreTrainedTokenizerFast
    sampling: SamplingArgs
    system: str = DEFAULT_SYSTEM_PROMPT
    turns: list[dict[str, str]] = field(default_factory=list)

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, *self.turns]

    def prompt_ids(self) -> list[int]:
        """Token ids of the history plus the assistant generation prompt."""
        if self.tok.chat_template is None:
            raise HareError("this tokenizer has no chat template; chat with a HARE checkpoint (see `hare init`)")
        return chat_ids(self.tok, self.messages())  # what the user types stays text, `<round_end>` included

    def send(self, text: str, streamer: BaseStreamer | None = None) -> str:
        """The reply to `text`; a message the model cannot take (not UTF-8, longer than the context) raises
        `HareError` and leaves the history as it was, so the conversation goes on."""
        before = list(self.turns)
        self.turns.append({"role": "user", "content": utf8_text(text, "the message")})
        try:
            ids = self.prompt_ids()
            room = self.model.config.max_position_embeddings - self.sampling.max_new_tokens
            while len(ids) > room and len(self.turns) > 1:
                del self.turns[:2]  # oldest user/assistant pair
                ids = self.prompt_ids()
            reply = self.tok.decode(generate_ids(self.model, self.tok, ids, self.sampling, streamer),
                                    skip_special_tokens=True)
        except HareError:
            self.turns[:] = before
            raise
        self.turns.append({"role": "assistant", "content": reply})
        return reply

    def reset(self) -> None:
        self.turns.clear()


def run(cfg: ChatConfig) -> None:
    from hare.model.load import load_model

    cfg.validate()
    utf8_text(cfg.system, "--system")
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    model, tok = load_model(cfg.model, cfg.device, cfg.dtype)
    session = ChatSession(model, tok, cfg, cfg.system)
    streamer = stdout_streamer(tok)
    print(f"Chatting with {cfg.model}. /reset clears the history, /exit or Ctrl-D leaves.", file=sys.stderr)
    failed = 0
    while True:
        try:
            line = input("you> ")
        except EOFError:
            print(file=sys.stderr)
            break
        text = line.strip()
        command = text.casefold() if text.startswith("/") and " " not in text else None
        if command == "/exit":
            break
        if command == "/reset":
            session.reset()
            print("(history cleared)", file=sys.stderr)
            continue
        if command is not None:  # /help, a typo: answered here, not sent to the model as a message
            print(f"({'' if command in ('/help', '/?') else f'unknown command {text}; '}commands: /reset clears "
                  "the history, /exit or Ctrl-D leaves)", file=sys.stderr)
            continue
        if text:
            print("hare> ", end="", flush=True)
            try:
                session.send(text, streamer)
            except HareError as err:  # this message only: the conversation goes on
                print(f"\nhare chat: error: {err}", file=sys.stderr)
                failed += 1
    # Someone at the terminal saw each error and went on; a script piping messages in learns it from the exit
    # status, as from any other command whose input it could not take.
    if failed and not sys.stdin.isatty():
        raise HareError(f"{failed} message{'s' * (failed > 1)} got no reply (the errors above)")
