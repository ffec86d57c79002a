"""The table from the API's error codes to typed exceptions: no server."""

import _path  # noqa: F401  (first: makes `outlast` importable)

import unittest

from outlast import BadCursor, Conflict, NotFound, OutlastError, QueueFull, TooManyRequests, UnknownTaskName
from outlast.errors import error_from_body


class ErrorTableTest(unittest.TestCase):
    def test_codes_pick_their_class_and_unknown_codes_fall_back_to_the_status(self) -> None:
        def body(code: str) -> dict:
            return {"error": {"code": code, "message": "m", "details": {"k": 1}}}

        self.assertIs(type(error_from_body(404, body("not_found"))), NotFound)
        self.assertIs(type(error_from_body(404, body("unknown_task_name"))), UnknownTaskName)
        self.assertIs(type(error_from_body(400, body("bad_cursor"))), BadCursor)
        full = error_from_body(429, body("queue_full"), retry_after=3)
        self.assertIsInstance(full, QueueFull)
        self.assertIsInstance(full, TooManyRequests)
        self.assertEqual((full.retry_after, full.details), (3, {"k": 1}))
        newer = error_from_body(409, body("some_future_code"))
        self.assertIsInstance(newer, Conflict)
        self.assertEqual(newer.code, "some_future_code")
        page = error_from_body(502, None)
        self.assertIs(type(page), OutlastError)
        self.assertEqual((page.code, page.status), ("http_502", 502))
        self.assertIn("http_502", str(page))


if __name__ == "__main__":
    unittest.main()
