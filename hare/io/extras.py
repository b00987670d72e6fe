"""Optional dependencies: imported where needed, and named with their extra when missing.

`hare/` stays importable without the heavy extras (llama.cpp, GPTQModel, torchao, datasets,
gradio); a command that needs one imports it through `import_extra`, so a missing extra is one
line that says what to install, not an ImportError traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType

from hare.errors import HareError


def import_extra(module: str, extra: str | None, purpose: str, install: str | None = None) -> ModuleType:
    """Import `module`, or raise a `HareError` naming the extra (`pip install 'hare[extra]'`) or `install`.

    What a library prints while it is imported (GPTQModel's banner, also when peft imports it) goes to
    stderr: it is never the command's result."""
    try:
        with stdout_to_stderr():
            return importlib.import_module(module)
    except ImportError as err:
        how = install or f"install with: bash scripts/setup.sh {extra} (or pip install 'hare[{extra}]')"
        raise HareError(f"{purpose} needs '{err.name or module}', which is not installed; {how}") from None


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send whatever runs inside to stderr — Python prints, logging handlers made meanwhile and C code
    writing to file descriptor 1 alike. stdout is for results (`hare generate … | next-command`), and
    some libraries print banners and progress there (GPTQModel: 57 lines before the generated text)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
