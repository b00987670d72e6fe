"""Optional dependencies: imported where needed, and named with their extra when missing.

`hare/` stays importable without the heavy extras (llama.cpp, GPTQModel, torchao, datasets,
gradio); a command that needs one imports it through `import_extra`, so a missing extra is one
line that says what to install, not an ImportError traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from hare.errors import HareError


def import_extra(module: str, extra: str | None, purpose: str, install: str | None = None) -> ModuleType:
    """Import `module`, or raise a `HareError` naming the extra (`pip install 'hare[extra]'`) or `install`."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        how = install or f"install with: bash scripts/setup.sh {extra} (or pip install 'hare[{extra}]')"
        raise HareError(f"{purpose} needs '{err.name or module}', which is not installed; {how}") from None
