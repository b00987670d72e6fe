"""Exports of HARE checkpoints to other runtimes' formats (`hare export gguf` for llama.cpp)."""
