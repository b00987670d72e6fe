"""HARE: build, pretrain, fine-tune, shrink, serve and measure small Mistral-architecture models.

`import hare` stays light: heavy libraries (torch, transformers) are imported by the modules
that need them, so the CLI can list its commands instantly.
"""

__version__ = "0.1.0"
