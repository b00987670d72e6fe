"""Benchmarks that back HARE's speed claims; each prints ratios measured side by side in one run."""
