"""Shared fixtures: the HARE tokenizer, a random `hare-micro` checkpoint and a "parrot" chat model.

The parrot is `hare-micro` trained for a few seconds to answer one question with one sentence and
then `<round_end>`, so tests can check real stopping behaviour without shipping weights.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# Markers (declared in pyproject.toml, --strict-markers): a test that needs torchrun, a browser, llama.cpp
# or a GPU is slow by nature, and so is one that needs a fixture trained or served for it; they are
# marked here so that `-m "not slow"` stays fast without every such test repeating the mark.
IMPLIES_SLOW = ("distributed", "browser", "gguf", "gpu")
SLOW_FIXTURES = {"tool_model", "joined_tool_model", "foreign_tool_model", "chat_server", "keyed_server",
                 "reference_run"}
SLOW_FILES = {"test_quickstart.py"}  # the whole quickstart in miniature (minutes)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    for item in items:
        if (any(item.get_closest_marker(name) for name in IMPLIES_SLOW) or SLOW_FIXTURES & set(item.fixturenames)
                or item.path.name in SLOW_FILES):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("gpu") and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


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


def train_parrot(model, tok, messages: list[dict[str, str]]) -> None:
    """Overfit `model` on one conversation, loss on the assistant reply (and its <round_end>)."""
    train_chats(model, tok, [messages])


def train_chats(model, tok, conversations: list[list[dict[str, str]]], max_steps: int = 300) -> None:
    """Overfit `model` on conversations at once (one padded batch), loss on every assistant reply.

    Trains until every reply token has probability > 0.9 after its prefix, so greedy decoding replays
    it with a margin that batching and padding cannot flip, rather than for a fixed number of steps:
    how many steps that takes depends on the CPU's kernels (a CI machine once stopped one reply short
    at a fixed 40)."""
    import torch

    rows = [tok.apply_chat_template(m, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
            for m in conversations]
    width = max(len(r["input_ids"]) for r in rows)
    input_ids = torch.full((len(rows), width), tok.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    for i, r in enumerate(rows):
        ids = torch.tensor(r["input_ids"])
        input_ids[i, : len(ids)] = ids
        labels[i, : len(ids)] = torch.where(torch.tensor(r["assistant_masks"]) == 1, ids, -100)
    attention_mask = (torch.arange(width)[None, :] < torch.tensor([[len(r["input_ids"])] for r in rows])).long()
    target, scored = labels[:, 1:].clamp(min=0), labels[:, 1:] != -100
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(max_steps):
        out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        prob = out.logits[:, :-1].float().softmax(-1).gather(-1, target[..., None])[..., 0]
        if (prob[scored] > 0.9).all():
            break
        out.loss.backward()
        opt.step()
        opt.zero_grad()
    else:
        raise AssertionError(f"the test model did not learn its replies in {max_steps} steps")
    model.eval()


@pytest.fixture(scope="session")
def parrot_dir(tmp_path_factory) -> Path:
    from hare.model.init import build_model
    from hare.model.load import save_checkpoint

    model, tok = build_model("hare-micro")
    train_parrot(model, tok, [{"role": "user", "content": PARROT_QUESTION},
                              {"role": "assistant", "content": PARROT_ANSWER}])
    return save_checkpoint(model, tok, tmp_path_factory.mktemp("ckpt") / "parrot")


# A chat model for the serving tests: the parrot's answer, plus a second turn that can only be
# answered from the first one (without it, the model says it does not know).
NAME_TURN = "My name is Ada."
NAME_REPLY = "Hello Ada!"
NAME_QUESTION = "What is my name?"
NAME_ANSWER = "Your name is Ada."
NAME_UNKNOWN = "I do not know your name."


@pytest.fixture(scope="session")
def chat_dir(tmp_path_factory) -> Path:
    from hare.model.init import build_model
    from hare.model.load import save_checkpoint

    def turn(question: str, answer: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]

    model, tok = build_model("hare-micro")
    train_chats(model, tok, [turn(PARROT_QUESTION, PARROT_ANSWER), turn(NAME_TURN, NAME_REPLY),
                             turn(NAME_TURN, NAME_REPLY) + turn(NAME_QUESTION, NAME_ANSWER),
                             turn(NAME_QUESTION, NAME_UNKNOWN)])
    return save_checkpoint(model, tok, tmp_path_factory.mktemp("ckpt") / "chat")


@pytest.fixture(scope="session")
def chat_server(chat_dir):
    """`hare serve` on the chat model, UI included, for the API, load and browser tests."""
    pytest.importorskip("fastapi", reason="needs the serve extra: bash scripts/setup.sh serve")
    from hare.serve.launch import serve_process

    # float32: the tests compare replies with the memorised ones and batched with single decoding, exactly
    # (`--dtype auto` takes bf16 on a CPU that multiplies it faster, and bf16 rounds batch rows differently).
    with serve_process("--model", str(chat_dir), "--max-tokens", "512", "--max-prompt-tokens", "300",
                       "--max-body-bytes", "20000", "--dtype", "float32") as server:
        yield server


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


# A tool model for the tool-calling and serving tests: hare-micro that answers TOOL_RECORDS exactly.
TOOL_FUNCTIONS = ("take_a_photo", "get_weather_forecast", "set_volume")
TOOL_RECORDS = [
    {"query": "take a selfie", "calls": [{"name": "take_a_photo", "arguments": {"camera": "front"}}]},
    {"query": "snap a picture", "calls": [{"name": "take_a_photo", "arguments": {"camera": "back"}}]},
    {"query": "weather in Oslo", "calls": [{"name": "get_weather_forecast", "arguments": {"location": "Oslo"}}]},
    {"query": "is it raining in Lima", "calls": [{"name": "get_weather_forecast", "arguments": {"location": "Lima"}}]},
    {"query": "ringer volume to 3",
     "calls": [{"name": "set_volume", "arguments": {"level": 3, "volume_type": "ring"}}]},
    {"query": "media volume 8 and weather in Rome",
     "calls": [{"name": "set_volume", "arguments": {"level": 8, "volume_type": "media"}},
               {"name": "get_weather_forecast", "arguments": {"location": "Rome"}}]},
    {"query": "tell me a joke", "calls": []},
    {"query": "who wrote hamlet", "calls": []},
]


def write_jsonl(path: Path, records: list[dict] | list[str], field: str = "text") -> Path:
    """One JSON object a line; a plain string becomes a corpus document `{field: text, "id": line}`."""
    rows = ({field: r, "id": i} if isinstance(r, str) else r for i, r in enumerate(records))
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


write_records = write_jsonl  # the tool tests' name for the same helper


@contextlib.contextmanager
def stub_teacher(reply: Callable[[str], str]) -> Iterator[str]:
    """A local OpenAI-compatible chat server answering each request's first message with `reply(text)`;
    yields its URL. Closed on exit, so the same URL then refuses connections ("teacher down")."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Teacher(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            prompt = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["messages"][0]["content"]
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply(prompt)}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Teacher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> bool:
    """Poll `condition` until it holds or `timeout` s pass; its last value. For what a server thread does
    after answering (freeing a slot, printing a line): the generous timeout is for a loaded machine, a
    passing test returns as soon as the condition holds."""
    import time

    deadline = time.monotonic() + timeout
    while not (held := condition()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return held


def one_line_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    """What a refused command printed: one line on stderr, no traceback, naming every fragment."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def train_tool_model(micro_dir: Path, tmp_path_factory, records: list[dict]) -> Path:
    """hare-micro trained to answer `records` exactly (memorised, which is what a test can check fast)."""
    from dataclasses import replace

    from hare.tools.spec import load_spec, save_spec
    from hare.tools.train import ToolTrainArgs, run

    data = tmp_path_factory.mktemp("tooldata")
    spec = [f for f in load_spec("android") if f.name in TOOL_FUNCTIONS]
    functions = [replace(f, index=i) for i, f in enumerate(spec)]
    save_spec(functions, data)
    write_records(data / "train.jsonl", records)
    write_records(data / "val.jsonl", records)
    out = tmp_path_factory.mktemp("toolrun") / "run"
    return run(ToolTrainArgs(model=str(micro_dir), data=str(data), out=str(out), overrides=[
        "data.epochs=0", "train.max_steps=100", "data.seq_len=128", "train.global_batch_tokens=512",
        "train.micro_batch_size=4", "optim.lr=5e-3", "schedule.warmup_steps=5", "train.precision=fp32",
        "log.progress=false", "checkpoint.every_steps=0"]))


@pytest.fixture(scope="session")
def tool_model(micro_dir, tmp_path_factory) -> Path:
    return train_tool_model(micro_dir, tmp_path_factory, TOOL_RECORDS)


# Also one call after a free-text value ("Oslo" then the selfie): what `hare.tools.joins` needs the model to
# go on with once it closes a value at a joiner.
JOINED_RECORD = {"query": "weather in Oslo then take a selfie",
                 "calls": [{"name": "get_weather_forecast", "arguments": {"location": "Oslo"}},
                           {"name": "take_a_photo", "arguments": {"camera": "front"}}]}


# And a request that says a value again after the joiner ("… of Oslo"), answered alone with another function: where
# a look cuts. Learnt, not left to how a memorising model reads a request it never saw.
AGAIN_RECORD = {"query": "snap a picture of Oslo", "calls": [{"name": "take_a_photo", "arguments": {"camera": "back"}}]}


@pytest.fixture(scope="session")
def joined_tool_model(micro_dir, tmp_path_factory) -> Path:
    return train_tool_model(micro_dir, tmp_path_factory, [*TOOL_RECORDS, JOINED_RECORD, AGAIN_RECORD])


CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def byte_level_tokenizer(texts: list[str], vocab: int = 700):
    """A GPT-2-style byte-level BPE with ChatML turns, as SmolLM2, Llama 3 or Qwen bring (trained here on
    `texts`, so that words are whole tokens as in a real vocabulary)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    backend.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    tok.chat_template = CHATML
    return tok


@pytest.fixture(scope="session")
def foreign_dir(tmp_path_factory) -> Path:
    """A tiny Llama model with a byte-level BPE tokenizer and its own ChatML template: a foreign base."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from hare.tools.calls import render
    from hare.tools.data import ToolDataConfig, generate
    from hare.tools.spec import load_spec

    android = load_spec("android")
    records = generate(ToolDataConfig(per_function=10, irrelevant=20, parallel=10, seed=1))["train"]
    tok = byte_level_tokenizer([r["query"] for r in records] + [render(r["calls"], android) for r in records]
                               + [r["query"] for r in TOOL_RECORDS])
    torch_seed = __import__("torch").manual_seed(0)
    del torch_seed
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    out = tmp_path_factory.mktemp("ckpt") / "foreign"
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def foreign_tool_model(foreign_dir, tmp_path_factory):
    """The foreign base tuned on TOOL_RECORDS with its two lower layers frozen (the CPU recipe's shape)."""
    from dataclasses import replace

    from hare.tools.spec import load_spec, save_spec
    from hare.tools.train import ToolTrainArgs, run

    data = tmp_path_factory.mktemp("tooldata")
    spec = [f for f in load_spec("android") if f.name in TOOL_FUNCTIONS]
    save_spec([replace(f, index=i) for i, f in enumerate(spec)], data)
    write_records(data / "train.jsonl", TOOL_RECORDS)
    out = tmp_path_factory.mktemp("toolrun") / "run"
    return run(ToolTrainArgs(model=str(foreign_dir), data=str(data), out=str(out), overrides=[
        "data.epochs=0", "train.max_steps=300", "data.seq_len=128", "train.global_batch_tokens=512",
        "train.micro_batch_size=4", "optim.lr=1e-2", "schedule.warmup_steps=5", "train.precision=fp32",
        "model.freeze_layers=1", "log.progress=false", "checkpoint.every_steps=0"]))
