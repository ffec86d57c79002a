"""What several test files share: a server per test class, and the server's own event log."""

import _path  # noqa: F401  (first: makes `outlast` importable)

import unittest
from typing import Any, Dict, List

from outlast import Client, Event
from outlast_server import ADMIN_KEY, Database, OutlastServer


class ServerTestCase(unittest.TestCase):
    """One real server for the class, on ``backend`` (set by the subclass); removed after."""

    backend = "sqlite"
    server: OutlastServer
    admin: Client

    @classmethod
    def setUpClass(cls) -> None:
        db = Database(cls.backend)
        cls.addClassCleanup(db.cleanup)
        cls.server = OutlastServer(db)
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        cls.admin = Client(cls.server.url, admin_key=ADMIN_KEY)

    def owner_client(self, owner: str) -> Client:
        return Client(self.server.url, token=self.admin.create_token(owner)["token"])


def logged_events(admin: Client, task_id: str) -> List[Dict[str, Any]]:
    """The task's whole stored log (``/detail``, admin): compacted progress, every other event."""
    events: List[Dict[str, Any]] = []
    after = None
    while True:
        page = admin.transport.call("GET", "/api/v1/tasks/%s/detail" % task_id, query={"after": after, "limit": 500})
        events.extend(page["events"])
        after = page.get("nextAfter")
        if after is None:
            return events


def assert_no_gap_no_repeat(case: unittest.TestCase, received: List[Event], log: List[Dict[str, Any]]) -> None:
    """Every stored non-progress event after the first snapshot was received once, in order;
    nothing was received twice; ids and seqs only grow."""
    case.assertGreater(len(received), 1)
    case.assertEqual(received[0].type, "snapshot")
    seqs = [e.seq for e in received]
    case.assertEqual(seqs, sorted(set(seqs)), "seqs must strictly increase: %s" % seqs)
    ids = [e.id for e in received]
    case.assertEqual(len(ids), len(set(ids)), "an event id came twice: %s" % ids)
    start = received[0].seq
    expected = [(e["seq"], e["type"]) for e in log if e["seq"] > start and e["type"] != "progress"]
    got = [(e.seq, e.type) for e in received[1:] if e.type != "progress"]
    case.assertEqual(got, expected)
    by_seq = {e["seq"]: e for e in log}
    for event in received[1:]:
        if event.type == "progress":
            continue
        stored = by_seq[event.seq]
        case.assertEqual(event.data.get("state"), stored.get("state"))
        case.assertEqual(event.data.get("name"), stored.get("name"))
