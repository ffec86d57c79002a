"""The client's calls against a real `outlast serve`, on SQLite and on PostgreSQL."""

import _path  # noqa: F401  (first: makes `outlast` importable)

import unittest

from outlast import (
    BadCursor,
    BadRequest,
    Client,
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTitle,
    NotFound,
    OutlastError,
    Unauthorized,
    UnknownQueue,
    UnknownTaskName,
)
from helpers import ServerTestCase


def follow(client: Client, task_id: str):
    """The task's final copy, from its event stream."""
    stream = client.events(task_id, timeout=30)
    for _ in stream:
        pass
    return stream.task


class ClientContract:
    """Every test runs once per backend (the subclasses below)."""

    def test_submit_get_and_idempotency_key(self: ServerTestCase) -> None:
        client = self.owner_client("sub-owner")
        answer = client.submit("demo.count", {"to": 2, "everyMs": 0}, idempotency_key="key-1", title="Two")
        task = answer["task"]
        self.assertEqual(task["name"], "demo.count")
        self.assertEqual(task["owner"], "sub-owner")
        self.assertEqual(task["title"], "Two")
        self.assertTrue(answer["token"])
        self.assertEqual(client.get(task["id"])["id"], task["id"])
        again = client.submit("demo.count", {"to": 2, "everyMs": 0}, idempotency_key="key-1")
        self.assertEqual(again["task"]["id"], task["id"])
        # The task token reads and watches that one task.
        by_token = Client(self.server.url, token=answer["token"])
        self.assertEqual(by_token.get(task["id"])["id"], task["id"])
        self.assertEqual(follow(by_token, task["id"])["state"], "succeeded")

    def test_list_pages_with_cursor_and_filters(self: ServerTestCase) -> None:
        client = self.owner_client("list-owner")
        ids = [client.submit("demo.count", {"to": 1, "everyMs": 0})["task"]["id"] for _ in range(3)]
        first = client.list(limit=2)
        self.assertEqual([t["id"] for t in first["tasks"]], ids[::-1][:2])  # newest first
        self.assertIsNotNone(first["nextCursor"])
        second = client.list(limit=2, cursor=first["nextCursor"])
        self.assertEqual([t["id"] for t in second["tasks"]], ids[:1])
        self.assertIsNone(second["nextCursor"])
        self.assertEqual([t["id"] for t in client.iter_tasks(limit=1)], ids[::-1])
        self.assertEqual(client.list(name="py.approve")["tasks"], [])
        self.assertEqual(len(client.list(q=ids[0])["tasks"]), 1)
        with self.assertRaises(BadCursor) as caught:
            client.list(cursor="not-a-cursor")
        self.assertEqual((caught.exception.code, caught.exception.status), ("bad_cursor", 400))

    def test_cancel_and_cancel_again_is_a_conflict(self: ServerTestCase) -> None:
        client = self.owner_client("cancel-owner")
        task = client.submit("demo.count", {"to": 1000, "everyMs": 100})["task"]
        client.cancel(task["id"])
        self.assertEqual(follow(client, task["id"])["state"], "canceled")
        with self.assertRaises(Conflict) as caught:
            client.cancel(task["id"])
        self.assertEqual((caught.exception.code, caught.exception.status), ("conflict", 409))

    def test_retry_resumes_a_failed_task_from_its_steps(self: ServerTestCase) -> None:
        client = self.owner_client("retry-owner")
        task = client.submit("demo.count", {"to": 3, "everyMs": 0, "failAt": 2}, max_attempts=1)["task"]
        failed = follow(client, task["id"])
        self.assertEqual(failed["state"], "failed")
        self.assertIn("on purpose", failed["error"]["message"])
        self.assertEqual(client.retry(task["id"])["id"], task["id"])
        done = follow(client, task["id"])
        self.assertEqual(done["state"], "succeeded")
        # Step 1 ran on the first attempt and was replayed; 2 and 3 ran now.
        self.assertEqual(done["result"], {"counted": 3, "ranSteps": 2})
        with self.assertRaises(Conflict):
            client.retry(task["id"])

    def test_signal_delivers_a_payload_and_checks_it(self: ServerTestCase) -> None:
        client = self.owner_client("signal-owner")
        task = client.submit("py.approve")["task"]
        with self.assertRaises(InvalidInput) as caught:
            client.signal(task["id"], "approved", {"by": 7})
        self.assertEqual(caught.exception.status, 422)
        with self.assertRaises(BadRequest):
            client.signal(task["id"], "not a name!", {})
        answer = client.signal(task["id"], "approved", {"by": "ana"})
        self.assertIsInstance(answer["delivered"], bool)
        done = follow(client, task["id"])
        self.assertEqual((done["state"], done["result"]), ("succeeded", {"by": "ana"}))
        with self.assertRaises(Conflict):
            client.signal(task["id"], "approved", {"by": "ana"})

    def test_submit_many_is_all_or_nothing(self: ServerTestCase) -> None:
        client = self.owner_client("batch-owner")
        tasks = client.submit_many("demo.count", [{"to": 1, "everyMs": 0}, {"to": 2, "everyMs": 0}], priority=1)
        self.assertEqual([t["priority"] for t in tasks], [1, 1])
        self.assertEqual([follow(client, t["id"])["result"]["counted"] for t in tasks], [1, 2])
        with self.assertRaises(InvalidInput) as caught:
            client.submit_many("demo.count", [{"to": 1}, {"to": "x"}])
        self.assertEqual(caught.exception.code, "invalid_input")
        self.assertIn(1, [issue["path"][0] for issue in caught.exception.details])
        self.assertEqual(len(client.list()["tasks"]), 2, "the refused batch stored nothing")

    def test_one_owner_cannot_see_another_owners_task(self: ServerTestCase) -> None:
        alice = self.owner_client("alice")
        bob = self.owner_client("bob")
        task = alice.submit("py.approve")["task"]
        self.addCleanup(lambda: self.admin.cancel(task["id"]))
        for call in (bob.get, bob.cancel, bob.retry, lambda i: bob.signal(i, "approved", {"by": "bob"}), lambda i: next(bob.events(i))):
            with self.assertRaises(NotFound) as caught:
                call(task["id"])
            self.assertEqual((caught.exception.code, caught.exception.status), ("not_found", 404))
        self.assertNotIn(task["id"], [t["id"] for t in bob.list()["tasks"]])
        with self.assertRaises(Forbidden):
            bob.list(owner="alice")
        self.assertIn(task["id"], [t["id"] for t in self.admin.list(owner="alice")["tasks"]])

    def test_admin_key_and_refused_credentials(self: ServerTestCase) -> None:
        task = self.admin.submit("demo.count", {"to": 1, "everyMs": 0}, owner="carol")["task"]
        self.assertEqual(task["owner"], "carol")
        carol = self.owner_client("carol")
        self.assertEqual(carol.get(task["id"])["owner"], "carol")
        with self.assertRaises(Forbidden) as caught:
            carol.create_token("mallory")
        self.assertEqual(caught.exception.status, 403)
        with self.assertRaises(Unauthorized):
            Client(self.server.url).get(task["id"])
        with self.assertRaises(Unauthorized) as caught:
            Client(self.server.url, token="forged-token").list()
        self.assertEqual((caught.exception.code, caught.exception.status), ("unauthorized", 401))
        self.assertTrue(caught.exception.message)

    def test_bad_input_gives_typed_errors_with_codes(self: ServerTestCase) -> None:
        client = self.owner_client("bad-owner")
        cases = [
            (lambda: client.submit("no.such.task", {}), UnknownTaskName, "unknown_task_name", 404),
            (lambda: client.submit("demo.count", {"to": 0}), InvalidInput, "invalid_input", 422),
            (lambda: client.submit("demo.count", {"to": 1}, title=""), InvalidTitle, "invalid_title", 400),
            (lambda: client.submit("demo.count", {"to": 1}, queue="nowhere"), UnknownQueue, "unknown_queue", 400),
            (lambda: client.submit("demo.count", {"to": 1}, priority="high"), BadRequest, "bad_request", 400),  # type: ignore[arg-type]
            (lambda: client.get("tsk_nothing_here"), NotFound, "not_found", 404),
        ]
        for call, cls, code, status in cases:
            with self.subTest(code=code):
                with self.assertRaises(cls) as caught:
                    call()
                self.assertIsInstance(caught.exception, OutlastError)
                self.assertEqual((caught.exception.code, caught.exception.status), (code, status))
                self.assertTrue(caught.exception.message)
        with self.assertRaises(InvalidInput) as caught:
            client.submit("demo.count", {"to": 0})
        self.assertTrue(caught.exception.details)


class SqliteClientTest(ClientContract, ServerTestCase):
    backend = "sqlite"


class PostgresClientTest(ClientContract, ServerTestCase):
    backend = "postgres"


if __name__ == "__main__":
    unittest.main()
