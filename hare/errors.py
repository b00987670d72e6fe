"""The one exception type for user mistakes.

A `HareError` carries a message that names the problem and its fix. The CLI prints it as one line
and exits non-zero; anything else that escapes is a bug in HARE and keeps its traceback.
"""

from types import ModuleType


class HareError(Exception):
    """A problem the user can fix: bad path, unknown preset, mismatched files, missing extra."""


def import_extra(module: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or explain in one line which extra installs it.

    `hare/` stays importable without the heavy extras (llama.cpp, GPTQModel, torchao); a command
    that needs one imports it through here, so a missing extra is a user-fixable `HareError`.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise HareError(f"{purpose} needs the '{extra}' extra ({err.name} is missing): "
                        f"bash scripts/setup.sh {extra}") from None
