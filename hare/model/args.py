"""The options every command that runs a model shares: which checkpoint, where, and how to sample.

They sit beside the model rather than in one command's module because generate, chat, serve, the
evaluations and the tool model all take them; a command's config inherits them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hare.config import check_range, check_seed, option


@dataclass(kw_only=True)
class ModelArgs:
    model: str = option(help="checkpoint directory (or a hub id when online)")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    dtype: str = option("auto", "auto (bfloat16 on GPU; on CPU the faster of bfloat16 and float32, "
                                "measured), float32, bfloat16 or float16")


# Below this temperature decoding is greedy, on every path (generate, chat, serve's backends): logits / 1e-300
# overflow to inf and softmax gives NaN, and no temperature this small samples anything but the top token.
MIN_TEMPERATURE = 1e-3


@dataclass(kw_only=True)
class SamplingArgs:
    max_new_tokens: int = option(256, "most tokens to generate")
    temperature: float = option(0.8, "softmax temperature; 0 (anything below 0.001) means greedy decoding")
    top_p: float = option(0.8, "nucleus sampling: keep the smallest token set with this probability mass")
    top_k: int = option(0, "keep only the k most likely tokens; 0 disables")
    seed: int | None = option(None, "random seed, for reproducible sampling")

    @property
    def greedy(self) -> bool:
        return self.temperature < MIN_TEMPERATURE

    def validate(self) -> None:
        """Refuse what the sampler would only fail on later: torch raises on nan and on seeds past 64 bits,
        and an inf temperature samples noise without complaint."""
        check_range("--max-new-tokens", self.max_new_tokens, 1)
        check_range("--temperature", self.temperature, 0, fix="0 means greedy decoding")
        check_range("--top-p", self.top_p, 0, 1, above=True)
        check_range("--top-k", self.top_k, 0, fix="0 disables it")
        check_seed("--seed", self.seed)
