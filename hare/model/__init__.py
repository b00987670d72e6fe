"""Model presets, the HARE tokenizer and Hugging Face checkpoint I/O."""
