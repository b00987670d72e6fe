"""HARE's lm-eval task configs for the Open LLM Leaderboard suite, and tiny fixtures in each schema.

The YAMLs read local files (`dataset_path: json`); `hare.eval.harness` writes, per run, a small YAML
that includes one of these and points `data_files` at the chosen file. `lm_utils.py` holds the
functions the YAMLs name with `!function` (lm-eval loads it by path, next to the YAML).
"""
