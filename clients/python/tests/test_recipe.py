"""The README's Python recipe: its core loop (examples/gradio_app.py, follow_into) runs here, and the README shows it as it is."""

import _path  # noqa: F401  (first: makes `outlast` importable)

import importlib.util
import inspect
import os
import unittest
from typing import List, Optional, Tuple

from helpers import ServerTestCase
from outlast_server import ROOT

EXAMPLE = os.path.join(ROOT, "clients", "python", "examples", "gradio_app.py")


def load_example():
    spec = importlib.util.spec_from_file_location("gradio_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # gradio is imported only in main(): not needed here
    return module


class Recorder:
    """Called like gr.Progress: ``progress(fraction, desc=...)``."""

    def __init__(self) -> None:
        self.calls: List[Tuple[float, Optional[str]]] = []

    def __call__(self, fraction: float, desc: Optional[str] = None) -> None:
        self.calls.append((fraction, desc))


class RecipeTest(ServerTestCase):
    def test_follow_into_feeds_the_bar_to_the_end_and_a_second_call_reattaches(self) -> None:
        example = load_example()
        client = self.owner_client("gradio-user")
        task_id = client.submit("demo.count", {"to": 4, "everyMs": 20})["task"]["id"]
        bar = Recorder()
        task = example.follow_into(client, task_id, bar)
        self.assertEqual(task["state"], "succeeded")
        fractions = [f for f, _ in bar.calls]
        self.assertEqual(fractions, sorted(fractions))
        self.assertEqual(fractions[-1], 1.0)
        # After a reload the page follows the same id again: the bar shows where the task is, at once.
        again = Recorder()
        self.assertEqual(example.follow_into(client, task_id, again)["result"], {"counted": 4, "ranSteps": 4})
        self.assertEqual([f for f, _ in again.calls], [1.0])

    def test_the_readme_shows_the_tested_code(self) -> None:
        source = inspect.getsource(load_example().follow_into)
        for readme in (os.path.join(ROOT, "README.md"), os.path.join(ROOT, "clients", "python", "README.md")):
            with self.subTest(readme=readme), open(readme, encoding="utf-8") as file:
                self.assertIn(source, file.read())


if __name__ == "__main__":
    unittest.main()
