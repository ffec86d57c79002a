"""The worker's parts that need no server: progress coalescing, outcomes, the CLI's refusals."""

import _path  # noqa: F401  (first: makes `outlast` importable)

import subprocess
import sys
import os
import unittest
from typing import Any, List, Tuple

from outlast.errors import LeaseLost
from outlast.worker import Retry, Unrecoverable, Worker
from outlast.worker.context import Attempt, Context
from outlast_server import HERE

CLAIMED = {"task": {"id": "tsk_1", "name": "t"}, "lease": "1.1000", "input": {"n": 1}, "attempt": 2, "steps": {"done": 7}, "checkpoint": None}


class RecordingTransport:
    """Stands in for the HTTP transport: records each call, answers {"ok": true} (or raises ``fail``)."""

    timeout = 30.0

    def __init__(self) -> None:
        self.calls: List[Tuple[str, str, Any]] = []
        self.fail: Any = None

    def call(self, method: str, path: str, body: Any = None, **_: Any) -> Any:
        self.calls.append((method, path, body))
        if self.fail is not None:
            raise self.fail
        return {"ok": True}


def attempt(transport: RecordingTransport, interval: float = 60.0) -> Attempt:
    return Attempt(transport, "w1", CLAIMED, 1000, interval)  # type: ignore[arg-type]


class ProgressTest(unittest.TestCase):
    def test_many_reports_are_coalesced_into_the_latest_and_sent_before_the_finish(self) -> None:
        transport = RecordingTransport()
        a = attempt(transport)
        ctx = Context(a)
        for i in range(1, 501):
            ctx.progress(current=i, total=500)
        self.assertEqual(transport.calls, [], "ctx.progress itself sends nothing")
        self.assertTrue(a.progress_due(a._last_progress + 60.0))
        a.flush_progress()
        self.assertEqual(transport.calls, [("POST", "/api/v1/worker/tasks/tsk_1/progress", {"progress": {"current": 500, "total": 500}, "lease": "1.1000"})])
        self.assertFalse(a.progress_due(a._last_progress + 1.0), "not due again within the interval")
        ctx.progress(percent=100, message="done")
        a.end({"outcome": "succeeded", "result": 1})
        self.assertEqual([c[1].rsplit("/", 1)[1] for c in transport.calls], ["progress", "progress", "finish"])
        self.assertEqual(transport.calls[1][2]["progress"], {"percent": 100, "message": "done"})

    def test_bad_progress_is_refused_here(self) -> None:
        ctx = Context(attempt(RecordingTransport()))
        for bad in ({"percent": 101}, {"current": "3"}, {}):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                ctx.progress(**bad)

    def test_a_lost_lease_stops_every_report_and_the_finish(self) -> None:
        transport = RecordingTransport()
        a = attempt(transport)
        ctx = Context(a)
        transport.fail = LeaseLost("lease_lost", "lost", 409, {"taskId": "tsk_1", "state": "running"})
        with self.assertRaises(LeaseLost):
            ctx.log("one")
        transport.fail = None
        self.assertTrue(ctx.cancelled)
        for call in (lambda: ctx.log("two"), lambda: ctx.step("new", lambda: 1), lambda: ctx.progress(percent=1)):
            with self.assertRaises(LeaseLost):
                call()
        self.assertIsNone(a.end({"outcome": "succeeded"}))
        self.assertEqual(len(transport.calls), 1, "nothing after the refusal")

    def test_recorded_steps_are_replayed_without_running(self) -> None:
        transport = RecordingTransport()
        ctx = Context(attempt(transport))
        self.assertEqual(ctx.step("done", lambda: self.fail("ran a recorded step")), 7)
        self.assertEqual(ctx.step("next", lambda: {"x": 1}), {"x": 1})
        self.assertEqual(transport.calls, [("PUT", "/api/v1/worker/tasks/tsk_1/steps/next", {"result": {"x": 1}, "lease": "1.1000"})])


class OutcomeTest(unittest.TestCase):
    def outcome(self, fn: Any) -> Any:
        worker = Worker("http://127.0.0.1:1", "owk_x")
        return worker._outcome(attempt(RecordingTransport()), fn)

    def test_results_and_exceptions_become_finish_bodies(self) -> None:
        self.assertEqual(self.outcome(lambda i, c: {"n": i["n"]}), {"outcome": "succeeded", "result": {"n": 1}})
        self.assertEqual(self.outcome(_raise(Retry(2.5))), {"outcome": "retry", "afterMs": 2500})
        self.assertEqual(self.outcome(_raise(Unrecoverable("bad input", "bad_input"))),
                         {"outcome": "failed", "error": {"message": "bad input", "code": "bad_input"}, "retryable": False})
        self.assertEqual(self.outcome(_raise(KeyError("voice"))), {"outcome": "failed", "error": {"message": "'voice'", "code": "KeyError"}})
        body = self.outcome(lambda i, c: {1, 2})
        self.assertEqual((body["outcome"], body["error"]["code"]), ("failed", "bad_result"))


def _raise(error: BaseException) -> Any:
    def fn(_input: Any, _ctx: Any) -> Any:
        raise error

    return fn


class CliTest(unittest.TestCase):
    def run_cli(self, *args: str) -> "subprocess.CompletedProcess[str]":
        env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE) + os.pathsep + HERE)
        return subprocess.run([sys.executable, "-m", "outlast.worker", *args], cwd=HERE, env=env, capture_output=True, text=True, timeout=30)

    def test_bad_arguments_exit_2_with_a_message(self) -> None:
        done = self.run_cli("--url", "http://127.0.0.1:1", "--key", "owk_x", "no_such_module:worker")
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("no_such_module", done.stderr)
        done = self.run_cli("--url", "http://127.0.0.1:1", "--key", "owk_x", "py_tasks:NAME")
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("is not an outlast.worker.Worker", done.stderr)
        done = self.run_cli("--key", "owk_x", "py_tasks:worker")
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("URL", done.stderr)


if __name__ == "__main__":
    unittest.main()
