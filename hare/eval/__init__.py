"""Evaluation: the Open LLM Leaderboard suite through lm-eval, perplexity, and benchmark-leakage tests."""
