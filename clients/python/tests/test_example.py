"""examples/python: the chapter converter worker runs a task the TypeScript client submits and follows;
the README shows the worker's code as it is here."""

import _path  # noqa: F401  (first: makes `outlast` importable)

import importlib.util
import inspect
import io
import os
import re
import subprocess
import unittest
import wave

from outlast import Client
from outlast_server import ADMIN_KEY, NODE, ROOT, Database, OutlastServer

EXAMPLE = os.path.join(ROOT, "examples", "python")


def load_example():
    spec = importlib.util.spec_from_file_location("chapters_example", os.path.join(EXAMPLE, "chapters.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ExampleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        db = Database("sqlite")  # artifacts are kept beside a SQLite database
        cls.addClassCleanup(db.cleanup)
        cls.server = OutlastServer(db, tasks=os.path.join(EXAMPLE, "tasks.mjs"))
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        cls.admin = Client(cls.server.url, admin_key=ADMIN_KEY)

    def test_the_typescript_client_submits_and_follows_a_book_the_python_worker_converts(self) -> None:
        example = load_example()
        secret = self.admin.transport.call("POST", "/api/v1/worker-keys", {"name": "example", "queues": ["chapters"]})["secret"]
        worker = example.worker
        worker.url, worker.key, worker.worker_id = self.server.url, secret, "example-worker"
        worker.start()
        self.addCleanup(worker.stop)
        token = self.admin.create_token("reader")["token"]
        done = subprocess.run(
            [NODE, "--import", "tsx", os.path.join(EXAMPLE, "submit.ts")], cwd=ROOT,
            env=dict(os.environ, OUTLAST_URL=self.server.url, OUTLAST_TOKEN=token), capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        match = re.search(r"submitted (\S+); watch it live at (\S+)", done.stdout)
        assert match is not None, done.stdout
        task_id = match.group(1)
        self.assertEqual(match.group(2), "%s/dashboard#/task/%s" % (self.server.url, task_id))
        self.assertIn("100% Chapter 3 of 3", done.stdout)
        self.assertIn("log: A Stormy Night: 3 chapters converted", done.stdout)
        self.assertIn('succeeded: {"title":"A Stormy Night"', done.stdout)
        reader = Client(self.server.url, token=token)
        task = reader.get(task_id)
        self.assertEqual([c["file"] for c in task["result"]["chapters"]], ["chapter-01.wav", "chapter-02.wav", "chapter-03.wav"])
        for chapter in task["result"]["chapters"]:
            body = reader.transport.request("GET", "/api/v1/tasks/%s/artifacts/%s" % (task_id, chapter["file"])).body
            self.assertEqual(len(body), chapter["bytes"])
            with wave.open(io.BytesIO(body)) as file:
                self.assertEqual((file.getnchannels(), file.getsampwidth(), file.getframerate()), (1, 2, 8000))
                self.assertGreater(file.getnframes(), 0)

    def test_the_readme_shows_the_workers_code(self) -> None:
        source = inspect.getsource(load_example().convert)
        for readme in (os.path.join(ROOT, "README.md"), os.path.join(EXAMPLE, "README.md")):
            with self.subTest(readme=readme), open(readme, encoding="utf-8") as file:
                self.assertIn(source, file.read())


if __name__ == "__main__":
    unittest.main()
