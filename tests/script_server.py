"""Run the repository's entry points (``python train.py ...``, ``evaluate.py``, ``export.py``) in
fresh processes without paying their imports each time.

A server process imports the heavy dependencies every entry point loads (torch, Lightning, Hydra,
brain_ai) once; each request forks it, and the child runs the script as ``__main__`` exactly as
``python <script> <args>`` would (``sys.argv``, working directory, environment, its stdout and
stderr in files, the exit status of ``SystemExit`` or 1 with the traceback for an uncaught
exception, ``atexit`` handlers). Every run is still its own process: nothing one run changes
reaches the next. Only the start-up differs (a few seconds of imports), which is what the many
command-line tests would otherwise spend most of their time on.

    with ScriptRunner(workers=4) as runner:
        procs = runner.map([("train.py", ["data=digits", ...]), ...])
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import os
import queue
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]

#: the server: import once, then fork one child per request line (JSON) and answer its exit status
SERVER = r"""
import json, os, sys
import torch, lightning, hydra, omegaconf  # noqa: F401  what every entry point imports
import brain_ai.app.pipeline, brain_ai.app.cli, brain_ai.config.hydra_store  # noqa: F401

def child(request):
    import atexit, runpy, traceback
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    sys.stdin = open(os.devnull)
    sys.argv = [request["script"], *request["args"]]
    sys.path[0] = os.path.dirname(os.path.abspath(request["script"]))
    code = 0
    try:
        runpy.run_path(request["script"], run_name="__main__")
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            code = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

for line in sys.stdin:
    request = json.loads(line)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        child(request)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


class ScriptRunner:
    """``workers`` forking servers; :meth:`run` / :meth:`map` return ``subprocess.CompletedProcess``
    objects like ``subprocess.run([sys.executable, script, *args], capture_output=True, text=True)``."""

    def __init__(self, workers: int = 4, env: Optional[Dict[str, str]] = None) -> None:
        self.env = dict(os.environ if env is None else env)
        self.workers = workers
        self.folder = tempfile.TemporaryDirectory(prefix="script_server_")
        self.idle: "queue.Queue[subprocess.Popen]" = queue.Queue()
        self.servers: List[subprocess.Popen] = []
        self.numbers = itertools.count()

    def __enter__(self) -> "ScriptRunner":
        for _ in range(self.workers):
            server = subprocess.Popen(
                [sys.executable, "-c", SERVER],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self.servers.append(server)
            self.idle.put(server)
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.stdin.close()
            server.wait(timeout=60)
        self.folder.cleanup()

    def run(self, script: str, args: Sequence[str], cwd: Path = REPO) -> subprocess.CompletedProcess:
        """``python <script> <args>`` in ``cwd`` (a fresh process forked from an idle server)."""
        server = self.idle.get()
        try:
            out = Path(self.folder.name) / str(next(self.numbers))
            request = {
                "script": script,
                "args": list(args),
                "cwd": str(cwd),
                "env": self.env,
                "stdout": f"{out}.out",
                "stderr": f"{out}.err",
            }
            server.stdin.write(json.dumps(request) + "\n")
            server.stdin.flush()
            answer = server.stdout.readline()
            if not answer:
                raise RuntimeError(f"the script server stopped (exit {server.poll()}) while running {script} {args}")
            status = int(answer)
        finally:
            self.idle.put(server)
        read = lambda suffix: Path(f"{out}{suffix}").read_text(errors="replace")  # noqa: E731
        return subprocess.CompletedProcess([script, *args], status, read(".out"), read(".err"))

    def map(self, commands: Iterable[Tuple[str, Sequence[str]]]) -> List[subprocess.CompletedProcess]:
        """Every ``(script, args)`` run, ``workers`` at a time; results in order."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(lambda command: self.run(*command), commands))
