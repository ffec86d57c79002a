"""What the worker tests share: a server with a worker key, and Python worker processes."""

import _path  # noqa: F401  (first: makes `outlast` importable)

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from helpers import ServerTestCase, logged_events
from outlast import Client
from outlast_server import HERE

PACKAGE_ROOT = os.path.dirname(HERE)


def eventually(check: Callable[[], Any], what: str, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


class WorkerProcess:
    """`python -m outlast.worker py_tasks:worker` against the server, as a child process."""

    def __init__(self, url: str, key: str, name: str, *extra: str, concurrency: int = 2) -> None:
        env = dict(os.environ, PY_WORKER_NAME=name, PY_WORKER_CONCURRENCY=str(concurrency),
                   PYTHONPATH=PACKAGE_ROOT + os.pathsep + HERE, PYTHONDONTWRITEBYTECODE="1")
        self.output: List[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "outlast.worker", "--url", url, "--key", key, "--worker-id", "py-" + name, *extra, "py_tasks:worker"],
            cwd=HERE, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(20) or self.process.poll() is not None:
            self.kill()
            raise AssertionError("the Python worker did not start:\n" + "".join(self.output))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if "claiming" in line:
                self._ready.set()
        self._ready.set()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)


class WorkerServerCase(ServerTestCase):
    """A server (per class) with a worker key for the queues py and pyshared, and a temp folder per test."""

    key: str
    owner: Client

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        made = cls.admin.transport.call("POST", "/api/v1/worker-keys", {"name": "python tests", "queues": ["py", "pyshared"]})
        cls.key = made["secret"]
        cls.owner = Client(cls.server.url, token=cls.admin.create_token("py-worker-tests")["token"])

    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="outlast-pyw-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def spawn(self, name: str, *extra: str, concurrency: int = 2) -> WorkerProcess:
        worker = WorkerProcess(self.server.url, self.key, name, *extra, concurrency=concurrency)
        self.addCleanup(worker.kill)
        return worker

    def spawn_raw(self, key: str) -> subprocess.Popen:
        """The worker CLI with ``key``, its output on ``stderr``, not waited for."""
        env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT + os.pathsep + HERE, PYTHONDONTWRITEBYTECODE="1")
        process = subprocess.Popen([sys.executable, "-m", "outlast.worker", "--url", self.server.url, "--key", key, "py_tasks:worker"],
                                   cwd=HERE, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def reap() -> None:
            if process.poll() is None:
                process.kill()
            process.wait(30)
            if process.stderr is not None:
                process.stderr.close()

        self.addCleanup(reap)
        return process

    def submit(self, name: str, input: Any, **options: Any) -> str:
        return self.owner.submit(name, input, **options)["task"]["id"]

    def task(self, task_id: str) -> Dict[str, Any]:
        return self.admin.get(task_id)

    def events(self, task_id: str) -> List[Dict[str, Any]]:
        return logged_events(self.admin, task_id)

    def steps_recorded(self, task_id: str) -> List[str]:
        return [e["name"] for e in self.events(task_id) if e["type"] == "step"]

    def marks(self, name: str) -> List[str]:
        path = os.path.join(self.dir, name)
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as file:
            return file.read().split("\n")[:-1]

    def open_gate(self, i: int) -> None:
        open(os.path.join(self.dir, "go-%d" % i), "w").close()


__all__ = ["WorkerServerCase", "WorkerProcess", "eventually", "signal"]
