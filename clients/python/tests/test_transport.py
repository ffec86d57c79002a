"""Base URLs: checked, joined with paths, and a server mounted under a prefix."""

import _path  # noqa: F401  (first: makes `outlast` importable)

import os
import unittest

from outlast import Client, NetworkError, NotFound
from outlast._http import Transport
from outlast_server import ADMIN_KEY, HERE, NODE, spawn_until_url


class UrlTest(unittest.TestCase):
    def test_prefix_and_query_are_joined_and_none_values_left_out(self) -> None:
        transport = Transport("https://app.example/jobs/")
        self.assertEqual(transport.url("/api/v1/tasks"), "https://app.example/jobs/api/v1/tasks")
        self.assertEqual(
            transport.url("/api/v1/tasks", {"state": "queued", "limit": 5, "cursor": None, "q": "a b&c"}),
            "https://app.example/jobs/api/v1/tasks?state=queued&limit=5&q=a+b%26c",
        )

    def test_bad_base_urls_say_what_is_expected(self) -> None:
        for bad in ("", "127.0.0.1:7391", "ftp://host", "http://host/jobs?x=1"):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                Transport(bad)
        with self.assertRaises(ValueError):
            Client("http://h", token="t", admin_key="k")

    def test_no_server_is_a_network_error(self) -> None:
        # Port 9 (discard) on loopback: nothing listens there on a test machine.
        with self.assertRaises(NetworkError) as caught:
            Client("http://127.0.0.1:9", admin_key=ADMIN_KEY, timeout=5).get("tsk_x")
        self.assertEqual((caught.exception.code, caught.exception.status), ("network", 0))


class MountPrefixTest(unittest.TestCase):
    def test_a_server_under_a_prefix(self) -> None:
        process, url, output = spawn_until_url([NODE, os.path.join(HERE, "prefix_server.mjs")], HERE)

        def stop() -> None:
            process.terminate()
            process.wait(15)
            if process.stdout is not None:
                process.stdout.close()

        self.addCleanup(stop)
        client = Client(url + "/jobs", admin_key=ADMIN_KEY)
        task = client.submit("py.echo", {"hi": 1})["task"]
        events = list(client.events(task["id"], timeout=30))
        self.assertEqual(events[-1].result, {"echo": {"hi": 1}})
        with self.assertRaises(NotFound):
            Client(url, admin_key=ADMIN_KEY).get(task["id"])


if __name__ == "__main__":
    unittest.main()
