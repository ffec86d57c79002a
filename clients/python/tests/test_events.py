"""The event iterator against a real server: to the end, resumed, timed out, closed,
and through a SIGKILL and restart of the server, on SQLite and on PostgreSQL."""

import _path  # noqa: F401  (first: makes `outlast` importable)

import threading
import time
import unittest
from typing import List

from outlast import Client, Event, Timeout
from helpers import ServerTestCase, assert_no_gap_no_repeat, logged_events
from outlast_server import ADMIN_KEY, Database, OutlastServer


class EventsContract:
    def test_follows_a_task_to_its_end(self: ServerTestCase) -> None:
        client = self.owner_client("events-owner")
        task = client.submit("demo.count", {"to": 5, "everyMs": 20})["task"]
        stream = client.events(task["id"], timeout=30)
        received = list(stream)
        self.assertTrue(received[-1].is_final)
        self.assertEqual(received[-1].state, "succeeded")
        self.assertEqual(received[-1].result, {"counted": 5, "ranSteps": 5})
        self.assertEqual(stream.task["state"], "succeeded")
        self.assertEqual(stream.task["lastSeq"], received[-1].seq)
        self.assertEqual(stream.reconnects, 0)
        assert_no_gap_no_repeat(self, received, logged_events(self.admin, task["id"]))
        # A stream of a finished task is its snapshot alone; one resumed after the end is empty (204).
        again = list(client.events(task["id"]))
        self.assertEqual([e.type for e in again], ["snapshot"])
        self.assertEqual(list(client.events(task["id"], after=received[-1].id)), [])

    def test_after_resumes_right_after_an_event(self: ServerTestCase) -> None:
        client = self.owner_client("resume-owner")
        task = client.submit("demo.count", {"to": 6, "everyMs": 30})["task"]
        first = client.events(task["id"], timeout=30)
        head: List[Event] = []
        for event in first:
            head.append(event)
            if event.type == "step":
                break
        first.close()
        self.assertEqual(list(first), [], "a closed stream yields nothing more")
        tail = list(client.events(task["id"], after=first.last_event_id, timeout=30))
        self.assertNotEqual(tail[0].type, "snapshot")
        assert_no_gap_no_repeat(self, head + tail, logged_events(self.admin, task["id"]))

    def test_timeout_and_close_end_a_stream_that_would_wait_for_ever(self: ServerTestCase) -> None:
        client = self.owner_client("waiting-owner")
        task = client.submit("py.approve")["task"]
        self.addCleanup(lambda: client.cancel(task["id"]))
        stream = client.events(task["id"], timeout=1.0)
        self.assertEqual(next(stream).type, "snapshot")
        with self.assertRaises(Timeout) as caught:
            for _ in stream:
                pass
        self.assertEqual(caught.exception.code, "timeout")
        self.assertTrue(stream.closed)

        # A watchdog shorter than the server's pings takes the quiet stream for dead: it
        # reconnects after the snapshot's id and gets nothing again (no second snapshot).
        quiet = client.events(task["id"], watchdog=0.3, max_backoff=0.2, timeout=2.0)
        got = []
        with self.assertRaises(Timeout):
            for event in quiet:
                got.append(event)
        self.assertEqual([e.type for e in got], ["snapshot"])
        self.assertGreaterEqual(quiet.reconnects, 2)

        other = client.events(task["id"])
        seen: List[Event] = []
        reader = threading.Thread(target=lambda: seen.extend(other))
        reader.start()
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
        other.close()  # from this thread, while the reader blocks on the socket
        reader.join(10)
        self.assertFalse(reader.is_alive(), "close() must wake the blocked read")
        self.assertEqual([e.type for e in seen], ["snapshot"])


class RestartContract:
    """Not on the shared class server: this one kills its own."""

    backend = "sqlite"

    def test_server_killed_and_restarted_mid_stream_no_gap_no_repeat(self: unittest.TestCase) -> None:
        db = Database(self.backend)
        self.addCleanup(db.cleanup)
        server = OutlastServer(db).start()
        self.addCleanup(lambda: current[0].stop())
        current = [server]
        admin = Client(server.url, admin_key=ADMIN_KEY)
        task = admin.submit("demo.count", {"to": 40, "everyMs": 50})["task"]
        stream = admin.events(task["id"], timeout=60)
        received: List[Event] = []
        restarted = threading.Event()
        for event in stream:
            received.append(event)
            if not restarted.is_set() and sum(e.type == "step" for e in received) == 8:
                restarted.set()
                server.kill()

                def start_again() -> None:
                    time.sleep(0.5)  # the iterator meets a refused connection first
                    current[0] = OutlastServer(db, port=server.port).start()

                threading.Thread(target=start_again).start()
        self.assertTrue(restarted.is_set())
        self.assertGreaterEqual(stream.reconnects, 1)
        final = received[-1]
        self.assertEqual(final.state, "succeeded")
        self.assertEqual(final.result["counted"], 40)
        # The attempt after the restart took over from the recorded steps.
        self.assertLess(final.result["ranSteps"], 40)
        self.assertEqual(current[0].port, server.port)
        log = logged_events(Client(current[0].url, admin_key=ADMIN_KEY), task["id"])
        self.assertIn("lease_expired", [e.get("reason") for e in log])
        assert_no_gap_no_repeat(self, received, log)


class SqliteEventsTest(EventsContract, ServerTestCase):
    backend = "sqlite"


class PostgresEventsTest(EventsContract, ServerTestCase):
    backend = "postgres"


class SqliteRestartTest(RestartContract, unittest.TestCase):
    backend = "sqlite"


class PostgresRestartTest(RestartContract, unittest.TestCase):
    backend = "postgres"


if __name__ == "__main__":
    unittest.main()
