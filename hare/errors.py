"""The one exception type for user mistakes.

A `HareError` carries a message that names the problem and its fix. The CLI prints it as one line
and exits 2; anything else that escapes is a bug in HARE and keeps its traceback.
"""


class HareError(Exception):
    """A problem the user can fix: bad path, unknown preset, mismatched files, missing extra."""


def first_line(err: BaseException) -> str:
    """A foreign exception's message cut to its first line, for quoting inside a one-line `HareError`."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
