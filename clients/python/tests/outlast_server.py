"""A real `outlast serve` for the tests: SQLite in a temp folder, or a fresh PostgreSQL schema.

Environment:
    OUTLAST_CLI           the built CLI (default: the repository's dist/cli/main.js;
                          build it with `node scripts/build.mjs`)
    OUTLAST_NODE          the node binary (default: node)
    OUTLAST_TEST_PG_URL   the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test);
                          unreachable fails the PostgreSQL tests, it never skips them
    OUTLAST_KEEP_SCHEMA   1 keeps the PostgreSQL schemas to inspect them
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from typing import List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CLI = os.environ.get("OUTLAST_CLI") or os.path.join(ROOT, "dist", "cli", "main.js")
NODE = os.environ.get("OUTLAST_NODE") or "node"
PG_URL = os.environ.get("OUTLAST_TEST_PG_URL") or "postgres://postgres@127.0.0.1:5432/test"
TASKS = os.path.join(HERE, "tasks.mjs")
ADMIN_KEY = "python-client-test-admin-key-0123456789"
PG_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def spawn_until_url(args: List[str], cwd: str) -> Tuple[subprocess.Popen, str, List[str]]:
    """Starts ``args`` with the tests' admin key and waits until it prints "running on URL".

    Returns the process, the URL and the list its output keeps being added to.
    """
    env = dict(os.environ, OUTLAST_ADMIN_KEY=ADMIN_KEY, OUTLAST_LOG_LEVEL="warn")
    output: List[str] = []
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    ready = threading.Event()
    found: List[str] = []

    def read(stream) -> None:
        for line in stream:
            output.append(line)
            match = re.search(r"running on (http://\S+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, args=(process.stdout,), daemon=True).start()
    ready.wait(30)
    if not found:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        raise AssertionError("%s did not start:\n%s" % (" ".join(args[1:3]), "".join(output)))
    return process, found[0], output


class Database:
    """Where a server keeps its data; ``cleanup()`` removes it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._dir = tempfile.mkdtemp(prefix="outlast-py-")
        self.schema: Optional[str] = None
        if kind == "sqlite":
            self.args = ["--db", os.path.join(self._dir, "outlast.db")]
        elif kind == "postgres":
            assert_pg_reachable()
            self.schema = "py_" + secrets.token_hex(5)
            self.args = ["--db", PG_URL, "--schema", self.schema]
        else:
            raise ValueError(kind)

    @property
    def folder(self) -> str:
        return self._dir

    def cleanup(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
        if self.schema is not None and not os.environ.get("OUTLAST_KEEP_SCHEMA"):
            done = subprocess.run(
                [NODE, os.path.join(HERE, "drop_schema.mjs"), PG_URL, self.schema],
                cwd=ROOT, capture_output=True, text=True, timeout=30,
            )
            if done.returncode != 0:
                raise AssertionError("Could not drop schema %s: %s" % (self.schema, done.stderr))


def assert_pg_reachable() -> None:
    parts = urllib.parse.urlsplit(PG_URL)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        raise AssertionError(
            "PostgreSQL is not reachable at %s (%s). Start it with:\n  %s\nor point OUTLAST_TEST_PG_URL at another server."
            % (PG_URL, error, PG_HINT)
        ) from None


class OutlastServer:
    """``outlast serve`` on ``db``, with the tests' tasks; ``url`` once started.

    ``lease_ms`` is short so that a task whose server was killed is taken
    again soon after the next start.
    """

    def __init__(self, db: Database, port: int = 0, lease_ms: int = 1000, tasks: str = TASKS) -> None:
        if not os.path.exists(CLI):
            raise AssertionError("No built CLI at %s: run `node scripts/build.mjs` first (or set OUTLAST_CLI)" % CLI)
        self.db = db
        self.port = port
        self.lease_ms = lease_ms
        self.tasks = tasks
        self.url = ""
        self._process: Optional[subprocess.Popen] = None
        self._output: List[str] = []

    def start(self) -> "OutlastServer":
        args = [NODE, CLI, "serve", "--port", str(self.port), *self.db.args, "--tasks", self.tasks,
                "--lease-ms", str(self.lease_ms), "--grace-ms", "0"]
        self._process, self.url, self._output = spawn_until_url(args, self.db.folder)
        self.port = urllib.parse.urlsplit(self.url).port or self.port
        return self

    def output(self) -> str:
        return "".join(self._output)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, its running tasks and streams with it."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        if self._process is not None:
            self._process.wait(30)
            if self._process.stdout is not None:
                self._process.stdout.close()

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it is still there after 15 s."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def wait_ready(self, seconds: float = 30) -> None:
        """Until ``/readyz`` answers 200 (the store is reachable)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("%s/readyz did not answer 200 in %g s" % (self.url, seconds))
            time.sleep(0.1)
