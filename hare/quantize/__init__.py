"""`hare quantize`: smaller checkpoints that HARE, transformers users and vLLM load (GPTQ int8/int4, FP8)."""
