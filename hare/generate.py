"""`hare generate`: continue a prompt with a HARE (or any causal LM) checkpoint, streaming to stdout.

Sampling goes through `transformers`' own `generate` (KV cache, logits processors, streamer), so
every model `transformers` can load works. Generation stops at any id of the generation config's
`eos_token_id` — for HARE checkpoints both `</s>` and the chat end-of-turn `<round_end>`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hare.config import option
from hare.errors import HareError
from hare.io.read import read_stdin, utf8_text
from hare.model.args import ModelArgs, SamplingArgs

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast
    from transformers.generation.streamers import BaseStreamer


@dataclass(kw_only=True)
class GenerateConfig(SamplingArgs, ModelArgs):
    prompt: str = option(help="text to continue; '-' reads it from stdin")


def stop_token_ids(eos: int | list[int] | None, tok: PreTrainedTokenizerFast) -> list[int]:
    """The ids that end a generation: the checkpoint's eos ids (its generation config's `eos_token_id`), else —
    none, or an empty list, which would never stop — the tokenizer's eos; and `<api_end>` (`answer_end_ids`).
    One rule for every backend."""
    from hare.model.tokenizer import answer_end_ids

    ends = [eos] if isinstance(eos, int) else list(eos or [])
    return [*(ends or [tok.eos_token_id]), *answer_end_ids(tok)]


def generate_ids(
    model: PreTrainedModel,
    tok: PreTrainedTokenizerFast,
    prompt_ids: list[int],
    sampling: SamplingArgs,
    streamer: BaseStreamer | None = None,
) -> list[int]:
    """Generate after `prompt_ids`; returns the new ids without the stop token that ended them."""
    import torch

    from hare.model.tokenizer import call_token_ids

    sampling.validate()
    if not prompt_ids:
        raise HareError("the prompt is empty and this model's tokenizer starts no text with a BOS token; "
                        "give a prompt to continue")
    limit = model.config.max_position_embeddings
    if len(prompt_ids) >= limit:
        raise HareError(f"the prompt has {len(prompt_ids)} tokens but the model's context is {limit}; shorten it")
    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    input_ids = torch.tensor([prompt_ids], device=model.device)
    greedy = sampling.greedy
    stops = stop_token_ids(model.generation_config.eos_token_id, tok)
    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=min(sampling.max_new_tokens, limit - len(prompt_ids)),
            do_sample=not greedy,
            temperature=None if greedy else sampling.temperature,
            top_p=None if greedy else sampling.top_p,
            top_k=None if greedy else sampling.top_k,
            eos_token_id=stops,
            suppress_tokens=call_token_ids(tok) or None,  # a tool model in plain generation writes text
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else stops[0],
            streamer=streamer,
        )
    new = out[0, len(prompt_ids):].tolist()
    if new and new[-1] in stops:
        new = new[:-1]
    return new


def stdout_streamer(tok: PreTrainedTokenizerFast, echo_prompt: bool = False) -> BaseStreamer:
    """Prints decoded text as it is generated (whole words, special tokens hidden)."""
    from transformers import TextStreamer

    return TextStreamer(tok, skip_prompt=not echo_prompt, skip_special_tokens=True)


def run(cfg: GenerateConfig) -> str:
    from hare.model.load import load_model
    from hare.model.tokenizer import text_ids

    cfg.validate()
    prompt = read_stdin("the prompt") if cfg.prompt == "-" else utf8_text(cfg.prompt, "--prompt")
    model, tok = load_model(cfg.model, cfg.device, cfg.dtype)
    (prompt_ids,) = text_ids(tok, [prompt], bos=True)
    room = model.config.max_position_embeddings - len(prompt_ids)
    if 0 < room < cfg.max_new_tokens:  # not an error: the text ends where the context does, and says so
        print(f"note: the model's context leaves room for {room} new tokens after the prompt's "
              f"{len(prompt_ids)}, so at most {room} are generated (--max-new-tokens {cfg.max_new_tokens})",
              file=sys.stderr)
    new = generate_ids(model, tok, prompt_ids, cfg, stdout_streamer(tok, echo_prompt=True))
    return tok.decode(new, skip_special_tokens=True)
