"""The SSE parser and the reconnect backoff: pure functions, no server."""

import _path  # noqa: F401  (first: makes `outlast` importable)

import unittest

from outlast.events import SseParser, backoff_delay


class SseParserTest(unittest.TestCase):
    def test_events_ids_retry_and_comments(self) -> None:
        parser = SseParser()
        messages = parser.feed("retry: 2000\n\n: ping\n\nid: a.1\nevent: snapshot\ndata: {\"x\":1}\n\n")
        self.assertEqual(parser.retry_ms, 2000)
        self.assertEqual([(m.event, m.data, m.last_event_id) for m in messages], [("snapshot", '{"x":1}', "a.1")])

    def test_any_split_of_the_bytes_gives_the_same_events(self) -> None:
        text = "id: c.7\r\nevent: state\r\ndata: one\r\ndata: two\r\n\r\n: ping\r\rid: c.8\revent: log\rdata:x\r\r"
        whole = [(m.event, m.data, m.last_event_id) for m in SseParser().feed(text)]
        self.assertEqual(whole, [("state", "one\ntwo", "c.7"), ("log", "x", "c.8")])
        for cut in range(len(text) + 1):
            parser = SseParser()
            parts = parser.feed(text[:cut]) + parser.feed(text[cut:])
            self.assertEqual([(m.event, m.data, m.last_event_id) for m in parts], whole, "cut at %d" % cut)

    def test_an_event_without_data_is_not_dispatched_and_bad_fields_are_ignored(self) -> None:
        parser = SseParser()
        self.assertEqual(parser.feed("event: state\n\nretry: soon\nid: has\0nul\nunknown: 1\n\n"), [])
        self.assertIsNone(parser.retry_ms)
        self.assertEqual(parser.last_event_id, "")
        self.assertEqual([m.event for m in parser.feed("data: d\n\n")], ["message"])


class BackoffTest(unittest.TestCase):
    def test_grows_from_the_base_to_the_cap_with_jitter_in_the_upper_half(self) -> None:
        self.assertEqual(backoff_delay(0, 2.0, 5.0, random=lambda: 0.0), 1.0)
        self.assertEqual(backoff_delay(0, 2.0, 5.0, random=lambda: 1.0), 2.0)
        self.assertEqual(backoff_delay(1, 2.0, 5.0, random=lambda: 1.0), 4.0)
        self.assertEqual(backoff_delay(50, 2.0, 5.0, random=lambda: 1.0), 5.0)
        self.assertEqual(backoff_delay(50, 2.0, 5.0, random=lambda: 0.0), 2.5)


if __name__ == "__main__":
    unittest.main()
