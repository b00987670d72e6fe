"""Shared fixtures: the HARE tokenizer, a random `hare-micro` checkpoint and a "parrot" chat model.

The parrot is `hare-micro` trained for a few seconds to answer one question with one sentence and
then `<round_end>`, so tests can check real stopping behaviour without shipping weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

PARROT_QUESTION = "What do hares eat?"
PARROT_ANSWER = "Hares eat grass, herbs and bark."


@pytest.fixture(scope="session")
def tok():
    from hare.model.tokenizer import build_tokenizer

    return build_tokenizer()


@pytest.fixture(scope="session")
def micro_dir(tmp_path_factory) -> Path:
    from hare.model.init import InitConfig, run

    return run(InitConfig(out=str(tmp_path_factory.mktemp("ckpt") / "micro"), preset="hare-micro"))


def train_parrot(model, tok, messages: list[dict[str, str]], steps: int = 40) -> None:
    """Overfit `model` on one conversation, loss on the assistant reply (and its <round_end>)."""
    import torch

    ids = tok.apply_chat_template(messages, tokenize=True, return_dict=False)
    prompt = tok.apply_chat_template(messages[:-1], tokenize=True, return_dict=False, add_generation_prompt=True)
    input_ids = torch.tensor([ids])
    labels = input_ids.clone()
    labels[0, : len(prompt)] = -100
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=input_ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()


@pytest.fixture(scope="session")
def parrot_dir(tmp_path_factory) -> Path:
    from hare.model.init import build_model
    from hare.model.load import save_checkpoint

    model, tok = build_model("hare-micro")
    train_parrot(model, tok, [{"role": "user", "content": PARROT_QUESTION},
                              {"role": "assistant", "content": PARROT_ANSWER}])
    return save_checkpoint(model, tok, tmp_path_factory.mktemp("ckpt") / "parrot")


def odd_width_checkpoint(out: Path, intermediate: int) -> Path:
    """A one-layer Mistral checkpoint whose FFN width some quantization block/group sizes cannot tile."""
    from transformers import MistralConfig, MistralForCausalLM

    from hare.model.load import save_checkpoint
    from hare.model.tokenizer import build_tokenizer

    config = MistralConfig(vocab_size=32064, hidden_size=256, intermediate_size=intermediate, num_hidden_layers=1,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    return save_checkpoint(MistralForCausalLM(config), build_tokenizer(), out)


def write_corpus(path: Path, docs: int = 300, seed: int = 0) -> Path:
    """A small JSONL corpus of varied, learnable sentences (arithmetic and facts about animals)."""
    import json
    import random

    rng = random.Random(seed)
    animals = ["hare", "fox", "owl", "deer", "badger", "otter", "lynx", "heron"]
    foods = ["grass", "berries", "fish", "insects", "bark", "seeds", "mice", "roots"]
    with path.open("w") as f:
        for _ in range(docs):
            lines = []
            for _ in range(rng.randint(2, 6)):
                a, b = rng.randint(1, 99), rng.randint(1, 99)
                animal, food = rng.choice(animals), rng.choice(foods)
                lines.append(rng.choice([
                    f"The {animal} eats {food}. {a} plus {b} is {a + b}.",
                    f"A {animal} can find {a} pieces of {food} and then {b} more, {a + b} in all.",
                    f"In winter the {animal} looks for {food} near the river.",
                ]))
            f.write(json.dumps({"text": " ".join(lines)}) + "\n")
    return path


@pytest.fixture(scope="session")
def packed_dir(tmp_path_factory) -> Path:
    from hare.data.pack import PackConfig, run

    root = tmp_path_factory.mktemp("data")
    corpus = write_corpus(root / "corpus.jsonl")
    return run(PackConfig(inputs=[str(corpus)], out=str(root / "packed"), val_fraction=0.1))


def torchrun(command: str, *args: str, nproc: int = 2, timeout: float = 600):
    """Run `hare COMMAND` under torchrun on CPU; on a hang, kill the whole process group (workers too)."""
    import os
    import signal
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "hare", command, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"torchrun hung for {timeout} s: {err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
