"""Start `hare serve` as a child process and wait until it answers: for tests and `hare bench serve`.

The server binds port 0 and prints its URL, so no port is guessed (and raced for). It runs in its
own process group; leaving the context ends the whole group, SIGKILL if SIGTERM is not enough, so a
hung server never outlives its caller.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hare.errors import HareError

URL_LINE = re.compile(r"HARE serving .* at (http://\S+)/v1")


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    url: str = ""
    output: collections.deque = field(default_factory=lambda: collections.deque(maxlen=200))

    def log(self) -> str:
        """The server's last lines of output (stdout and stderr), for failure messages."""
        return "".join(self.output)

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/health", timeout=10) as response:
            return json.loads(response.read())


def _drain(server: ServerProcess, found: threading.Event) -> None:
    """Keep reading the child's output (a full pipe would stall it), noting the URL line."""
    for line in server.proc.stdout:
        server.output.append(line)
        match = URL_LINE.search(line)
        if match and not server.url:
            server.url = match.group(1)
            found.set()
    found.set()


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


@contextmanager
def serve_process(*args: str, timeout: float = 180, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """Run `hare serve --port 0 ARGS…` from this very `hare` package; yields once /health answers.

    `-m hare` alone would import whichever `hare/` the current directory holds (run from another
    checkout, a benchmark measured that checkout's server), so the child puts this package's
    directory first on its path."""
    import hare

    root = str(Path(hare.__file__).resolve().parent.parent)
    start = f"import runpy, sys; sys.path.insert(0, {root!r}); runpy.run_module('hare', run_name='__main__')"
    cmd = [sys.executable, "-c", start, "serve", "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False",
                                                         **(env or {})})
    server, found = ServerProcess(proc), threading.Event()
    threading.Thread(target=_drain, args=(server, found), daemon=True).start()
    try:
        deadline = time.monotonic() + timeout
        if not found.wait(timeout) or not server.url:
            with contextlib.suppress(subprocess.TimeoutExpired):  # its output ended: it is stopping, or will
                proc.wait(timeout=10)
            if proc.poll() is not None:  # it stopped by itself: say what it said, not "did not start"
                said = next((line.strip() for line in reversed(server.output) if "error" in line), "")
                raise HareError(f"`hare serve` exited at once ({said or f'exit code {proc.returncode}'})")
            raise HareError(f"`hare serve` did not start within {timeout:.0f} s:\n{server.log()[-3000:]}")
        while True:
            try:
                server.health()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise HareError(f"`hare serve` never became healthy:\n{server.log()[-3000:]}") from None
                time.sleep(0.2)
        yield server
    finally:
        _stop(proc)
