"""Octopus-v2-style tool calling: specs, data, training, calls and evaluation."""
