"""Everything that touches user files goes through here, so each question has one answer and each bad file one line.

`sources` decides path or hub id; `read` reads text, JSON, YAML and JSON-lines (gzip too) with errors that
name the file, the line and the fix; `atomic` writes files and directories whole or not at all; `extras`
imports optional dependencies and names the extra that installs them.
"""
