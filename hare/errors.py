"""The one exception type for user mistakes.

A `HareError` carries a message that names the problem and its fix. The CLI prints it as one line
and exits non-zero; anything else that escapes is a bug in HARE and keeps its traceback.
"""


class HareError(Exception):
    """A problem the user can fix: bad path, unknown preset, mismatched files, missing extra."""
