"""The Python worker against a real `outlast serve`, on SQLite and on PostgreSQL."""

import _path  # noqa: F401  (first: makes `outlast` importable)

import os
import signal
import time
import unittest

from outlast.worker import Worker
from worker_support import WorkerServerCase, eventually

import py_tasks


class WorkerFlow:
    """The cases; mixed into one class per backend below."""

    def test_happy_path_progress_steps_logs_and_artifact_reach_a_watcher(self) -> None:
        worker = Worker(self.server.url, self.key, worker_id="py-inproc", concurrency=1)
        worker.task("py.chapter")(py_tasks.chapter)
        # `outlast serve` keeps artifacts beside a SQLite database; on PostgreSQL it has no storage for them.
        with_file = self.backend == "sqlite"
        task_id = self.submit("py.chapter", {"dir": self.dir, "chapters": 3, "artifact": with_file})
        worker.start()
        self.addCleanup(worker.stop)
        stream = self.owner.events(task_id)
        received = list(stream)
        self.assertEqual(stream.task["state"], "succeeded", stream.task)
        kinds = [e.type for e in received]
        self.assertEqual(kinds[0], "snapshot")
        self.assertEqual([e.data.get("name") for e in received if e.type == "step"], ["chapter-0", "chapter-1", "chapter-2"])
        logs = [e.data.get("message") for e in received if e.type == "log"]
        self.assertEqual(logs, ["chapter 0 by py", "chapter 1 by py", "chapter 2 by py"] + (["Saved chapters.txt (11 bytes)"] if with_file else []))
        # Coalesced, but the last one always arrives before the end.
        progress = [e.progress for e in received if e.type == "progress"]
        self.assertTrue(progress, kinds)
        self.assertEqual(progress[-1], {"current": 3, "total": 3, "percent": 100, "message": "chapter 3 of 3"})
        self.assertLess(kinds.index("progress"), len(kinds) - 1)
        self.assertEqual(stream.task["result"]["chapters"], [{"chapter": i, "by": "py"} for i in range(3)])
        if not with_file:
            return
        answer = self.owner.transport.request("GET", "/api/v1/tasks/%s/artifacts/chapters.txt" % task_id)
        self.assertEqual(answer.body, b"3 chapters\n")
        self.assertEqual(answer.headers["content-type"].split(";")[0], "text/plain")

    def test_a_worker_killed_mid_task_is_resumed_by_another_from_its_recorded_steps(self) -> None:
        first = self.spawn("A")
        task_id = self.submit("py.chapter", {"dir": self.dir, "chapters": 4, "gate": [2]})
        eventually(lambda: self.steps_recorded(task_id) == ["chapter-0", "chapter-1"], "two steps by A")
        first.kill()  # SIGKILL: no hand-back, the lease runs out
        self.open_gate(2)
        self.spawn("B")
        done = eventually(lambda: (lambda t: t if t["state"] in ("succeeded", "failed") else None)(self.task(task_id)), "B to finish it")
        self.assertEqual(done["state"], "succeeded", done)
        self.assertEqual(done["result"]["attempt"], 2)
        self.assertEqual([c["by"] for c in done["result"]["chapters"]], ["A", "A", "B", "B"])
        # The steps A recorded were replayed, not run again.
        self.assertEqual([self.marks("ran-%d" % i) for i in range(4)], [["A"], ["A"], ["B"], ["B"]])
        reasons = [e.get("reason") for e in self.events(task_id) if e["type"] == "state" and e.get("state") == "queued"]
        self.assertIn("lease_expired", reasons)

    def test_a_stale_workers_writes_after_its_lease_was_taken_over_are_refused_and_change_nothing(self) -> None:
        # One slot: with the task claimed, A has no long poll open that could be handed the task back while frozen.
        stale = self.spawn("A", concurrency=1)
        task_id = self.submit("py.chapter", {"dir": self.dir, "chapters": 3, "gate": [1, 2], "plainSleep": True})
        eventually(lambda: self.steps_recorded(task_id) == ["chapter-0"], "A's first step")
        stale.signal(signal.SIGSTOP)  # frozen: no heartbeat, the lease runs out
        self.spawn("B")
        eventually(lambda: "chapter 0 by B" in self._logs(task_id), "B to hold attempt 2 and replay chapter 0")
        before = self.task(task_id)
        self.assertEqual((before["attempt"], before["state"]), (2, "running"))
        self.open_gate(1)
        stale.signal(signal.SIGCONT)
        # A goes on: runs chapter 1's function, and its record of it is refused; it drops the attempt.
        eventually(lambda: "%s: lease lost" % task_id in "".join(stale.output), "A to drop its attempt")
        self.assertIn("A", self.marks("ran-1"))
        eventually(lambda: "chapter 1 by B" in self._logs(task_id), "B's chapter 1")
        self.open_gate(2)
        done = eventually(lambda: (lambda t: t if t["state"] in ("succeeded", "failed") else None)(self.task(task_id)), "B to finish")
        self.assertEqual(done["state"], "succeeded", done)
        self.assertEqual((done["attempt"], done["result"]["by"]), (2, "B"))
        self.assertEqual([c["by"] for c in done["result"]["chapters"]], ["A", "B", "B"])
        later = [e for e in self.events(task_id) if e["seq"] > before["lastSeq"]]
        self.assertFalse([e for e in later if "by A" in str(e.get("message", ""))], later)
        self.assertEqual([e["name"] for e in later if e["type"] == "step"], ["chapter-1", "chapter-2"])
        self.assertIsNone(stale.process.poll(), "the stale worker stays up")

    def _logs(self, task_id: str) -> list:
        return [e.get("message") for e in self.events(task_id) if e["type"] == "log"]

    def test_a_concurrency_limit_holds_across_the_servers_own_worker_and_a_python_worker(self) -> None:
        self.spawn("P", concurrency=4)
        ids = [self.submit("py.shared", {"ms": 250}) for _ in range(10)]
        tasks = [eventually(lambda i=i: (lambda t: t if t["state"] == "succeeded" else None)(self.task(i)), "task %s" % i, 60) for i in ids]
        runners = {t["result"]["by"] for t in tasks}
        self.assertEqual(runners, {"py", "ts"}, "both workers took some")
        # The handlers' own spans (one machine, one clock): a task's startedAt is taken before its claim
        # waits for the queue's lock, so the stored times can overlap where the running ones did not.
        spans = [(t["result"]["start"], 0) for t in tasks] + [(t["result"]["end"], -1) for t in tasks]
        running = peak = 0
        for _, change in sorted(spans):  # at an equal instant the end counts first
            running += 1 if change == 0 else -1
            peak = max(peak, running)
        # 3 across both, though this server may run 2 and the Python worker 4.
        self.assertLessEqual(peak, 3)
        self.assertEqual(peak, 3, "the limit was used, not only respected")

    def test_a_cancel_reaches_a_python_worker_within_its_heartbeat(self) -> None:
        self.spawn("A")
        task_id = self.submit("py.chapter", {"dir": self.dir, "chapters": 2, "gate": [1]})
        eventually(lambda: self.steps_recorded(task_id) == ["chapter-0"], "the first step")
        asked = time.time()
        self.owner.cancel(task_id)
        # The server cancels by itself only after abortGraceMs (10 s): canceled sooner means the worker stopped.
        eventually(lambda: self.task(task_id)["state"] == "canceled", "the task to end canceled", 8)
        seen = self.marks("cancel-seen")
        self.assertEqual(len(seen), 1, seen)
        self.assertLess(float(seen[0].split()[1]) - asked, 5.0)  # the heartbeat is 1/3 of the 1 s lease
        self.assertEqual(self.marks("stopped"), ["A at 1"])
        self.assertEqual(self.marks("ran-1"), [])

    def test_sigterm_lets_short_work_finish_and_hands_back_the_rest(self) -> None:
        worker = self.spawn("A", "--grace", "1")
        blocked = self.submit("py.chapter", {"dir": self.dir, "chapters": 2, "gate": [1]})
        eventually(lambda: self.steps_recorded(blocked) == ["chapter-0"], "the blocked task to start")
        worker.signal(signal.SIGTERM)
        self.assertEqual(worker.process.wait(20), 0, "".join(worker.output))
        task = self.task(blocked)
        self.assertEqual(task["state"], "queued", task)
        states = [e for e in self.events(blocked) if e["type"] == "state"]
        self.assertEqual(states[-1].get("reason"), "released")
        # Handed back, not lost: the next worker takes it at once and finishes it from its steps.
        self.open_gate(1)
        self.spawn("B")
        done = eventually(lambda: (lambda t: t if t["state"] == "succeeded" else None)(self.task(blocked)), "B to finish it")
        self.assertEqual([c["by"] for c in done["result"]["chapters"]], ["A", "B"])

    def test_a_worker_with_a_wrong_key_exits_1_saying_the_server_refused(self) -> None:
        worker = self.spawn_raw("owk_" + "x" * 43)
        self.assertEqual(worker.wait(20), 1)
        self.assertIn("unauthorized", worker.stderr.read())


class SqliteWorkerTest(WorkerFlow, WorkerServerCase):
    backend = "sqlite"


class PostgresWorkerTest(WorkerFlow, WorkerServerCase):
    backend = "postgres"


if __name__ == "__main__":
    unittest.main()
