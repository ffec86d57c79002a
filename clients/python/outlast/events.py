"""Server-Sent Events: a parser, and the reconnecting iterator over one task's events.

The stream (docs/api.md, "Event streams") starts with ``retry: 2000``,
then a ``snapshot`` of the task, then its events as they happen, each with
an ``id`` (an opaque cursor); ``: ping`` comments keep it alive at least
every 15 s, and the server closes it after the task's final state.

:class:`EventStream` follows one task to its end through dropped
connections and server restarts: it reconnects with exponential backoff
(full jitter in the upper half, capped, based on the server's ``retry:``,
never sooner than a ``Retry-After``) and sends the id of the last event it
handed out as ``Last-Event-ID``, so the server sends every event after it
and nothing before: no gap, no repeat. The behaviour mirrors the
TypeScript client's connection (src/client/SPEC.md).
"""

import codecs
import http.client
import json
import random as _random
import socket
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional

from ._http import Transport, quote
from .errors import NetworkError, OutlastError, Timeout
from .types import FINAL_STATES, Event, Task

__all__ = ["SseMessage", "SseParser", "EventStream", "backoff_delay"]


class SseMessage:
    """One dispatched SSE event: its ``event`` name, joined ``data`` and the stream's last ``id``."""

    __slots__ = ("event", "data", "last_event_id")

    def __init__(self, event: str, data: str, last_event_id: str) -> None:
        self.event = event
        self.data = data
        self.last_event_id = last_event_id

    def __repr__(self) -> str:
        return "SseMessage(event=%r, id=%r, data=%r)" % (self.event, self.last_event_id, self.data[:60])


class SseParser:
    """An incremental SSE parser (the WHATWG rules: CR, LF or CRLF line ends,
    multi-line ``data``, ``id`` without NUL, numeric ``retry``, comments ignored).

    Feed it text as it arrives with :meth:`feed`; it returns the events that
    text completed. ``retry_ms`` holds the last ``retry:`` value seen.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._event = ""
        self._data: List[str] = []
        self._saw_cr = False
        self.last_event_id = ""
        self.retry_ms: Optional[int] = None

    def feed(self, text: str) -> List[SseMessage]:
        out: List[SseMessage] = []
        if self._saw_cr and text.startswith("\n"):
            text = text[1:]
        self._saw_cr = False
        start = 0
        i = 0
        n = len(text)
        while i < n:
            c = text[i]
            if c == "\n" or c == "\r":
                self._line(self._buffer + text[start:i], out)
                self._buffer = ""
                if c == "\r":
                    if i + 1 < n:
                        if text[i + 1] == "\n":
                            i += 1
                    else:
                        self._saw_cr = True  # its LF may come in the next chunk
                start = i + 1
            i += 1
        self._buffer += text[start:]
        return out

    def _line(self, line: str, out: List[SseMessage]) -> None:
        if line == "":
            if self._data:
                out.append(SseMessage(self._event or "message", "\n".join(self._data), self.last_event_id))
            self._event = ""
            self._data = []
            return
        if line.startswith(":"):
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value.isdigit() and value.isascii():
                self.retry_ms = int(value)


def backoff_delay(attempt: int, base: float, cap: float, random: Callable[[], float] = _random.random) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): ``base·2^attempt`` capped
    at ``cap``, with jitter in its upper half so a crowd of clients spreads out after a restart."""
    ceiling = min(cap, base * 2 ** min(attempt, 20))
    return ceiling / 2 + random() * (ceiling / 2)


class EventStream(Iterator[Event]):
    """Every event of one task, from its snapshot to its final state, across reconnects.

    Made by :meth:`outlast.Client.events`. Iterate it; it stops after the
    event that brings the task to ``succeeded``, ``failed`` or ``canceled``
    (and at once for a resumed stream that had already seen it). It raises
    the typed error when the server refuses the stream for good (401, 403,
    404: the task does not exist for this caller), and
    :class:`~outlast.errors.Timeout` once ``timeout`` seconds have passed.

    :meth:`close` (from any thread) ends it: the iteration stops.

    Attributes:
        last_event_id: the cursor of the last event handed out (pass it as
            ``after=`` to a later stream to go on from there), or None.
        task: the task as the stream last showed it: the snapshot's copy with
            ``state``, ``attempt``, ``progress``, ``result``, ``error`` and
            ``lastSeq`` brought up to date by later events (read
            ``client.get(id)`` for the figures events do not carry).
        reconnects: how many times it connected again after the first.
    """

    def __init__(
        self,
        transport: Transport,
        task_id: str,
        after: Optional[str] = None,
        timeout: Optional[float] = None,
        watchdog: float = 40.0,
        max_backoff: float = 5.0,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("events() needs a task id")
        if after is not None and (not isinstance(after, str) or "\r" in after or "\n" in after):
            raise ValueError("after must be an event id from an earlier stream (no CR or LF)")
        self._transport = transport
        self._task_id = task_id
        self._path = "/api/v1/tasks/%s/events" % quote(task_id)
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._timeout = timeout
        self._watchdog = watchdog
        self._max_backoff = max_backoff
        self._random = random
        self._retry_base = 1.0
        self._attempt = 0
        self._min_delay = 0.0
        self._response: Optional[http.client.HTTPResponse] = None
        self._parser = SseParser()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending: Deque[SseMessage] = deque()
        self._connected_once = False
        self._done = False
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._reading = False
        self.last_event_id: Optional[str] = after
        self.task: Optional[Task] = None
        self.reconnects = 0

    def __iter__(self) -> "EventStream":
        return self

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Ends the stream: a blocked read or backoff wait returns, and iteration stops."""
        self._closed.set()
        with self._lock:
            response = self._response
            reading = self._reading
            if not reading:
                self._response = None
        if response is None:
            return
        _shutdown(response)
        # A read in another thread wakes on the shutdown and closes the response itself:
        # closing it under that read breaks http.client's state.
        if not reading:
            _close(response)

    @property
    def closed(self) -> bool:
        return self._closed.is_set() or self._done

    def __next__(self) -> Event:
        while True:
            if self._closed.is_set() or self._done:
                self._drop()
                raise StopIteration
            if self._pending:
                event = self._event_of(self._pending.popleft())
                if event is None:
                    continue
                return event
            if self._response is None:
                self._connect()
                continue
            self._read()

    # -- one connection -------------------------------------------------

    def _connect(self) -> None:
        if self._connected_once:
            self._wait(max(self._min_delay, backoff_delay(self._attempt, self._retry_base, self._max_backoff, self._random)))
            self._attempt += 1
            self._min_delay = 0.0
            if self._closed.is_set():
                return
            self.reconnects += 1
        self._connected_once = True
        headers = {"accept": "text/event-stream", "cache-control": "no-cache"}
        if self.last_event_id:
            headers["last-event-id"] = self.last_event_id
        try:
            response = self._transport.open("GET", self._path, headers=headers, timeout=self._read_timeout())
        except (NetworkError, Timeout):
            self._check_deadline()
            return  # the server is down or slow: back off and try again
        except OutlastError as error:
            if error.status == 429 or error.status >= 500:
                if error.retry_after:
                    self._min_delay = error.retry_after
                return
            self._done = True
            raise  # 4xx: refused for good (unauthorized, forbidden, not found)
        if response.status == 204:
            # It had already seen the final state (a resumed stream of a finished task).
            response.close()
            self._done = True
            return
        with self._lock:
            if self._closed.is_set():
                response.close()
                return
            self._response = response
        self._parser = SseParser()
        if self.last_event_id:
            # A new parser forgets the id; resume must keep it even if the server sends none.
            self._parser.last_event_id = self.last_event_id
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def _read(self) -> None:
        with self._lock:
            response = self._response
            if response is None or self._closed.is_set():
                return
            self._reading = True
        _set_read_timeout(response, self._read_timeout())
        try:
            chunk = response.read1(65536) if hasattr(response, "read1") else response.readline()
        except (socket.timeout, TimeoutError):
            chunk = None  # no byte, not even a ping, for the watchdog's time: the connection is dead
        except (OSError, ValueError, http.client.HTTPException):
            chunk = b""  # reset by a dying server, or shut down by close()
        finally:
            with self._lock:
                self._reading = False
        if not chunk:
            self._drop()
            self._check_deadline()
            return
        self._pending.extend(self._parser.feed(self._decoder.decode(chunk)))
        if self._parser.retry_ms is not None:
            self._retry_base = max(0.1, self._parser.retry_ms / 1000)

    def _event_of(self, message: SseMessage) -> Optional[Event]:
        try:
            data = json.loads(message.data)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("taskId") != self._task_id:
            return None
        seq = data.get("seq")
        event = Event(message.event, message.last_event_id, self._task_id, seq if isinstance(seq, int) else -1, data)
        # An event arrived: the next drop starts its backoff from the beginning.
        self._attempt = 0
        # The cursor moves as the event is handed out, so a reconnect never skips it nor sends it again.
        if message.last_event_id:
            self.last_event_id = message.last_event_id
        self._fold(event)
        if event.is_final:
            self._done = True
            self._pending.clear()
            self._drop()
        return event

    def _fold(self, event: Event) -> None:
        whole = event.task
        if whole is not None:
            self.task = dict(whole)  # type: ignore[assignment]
            return
        task = self.task
        if task is None:
            return
        task["lastSeq"] = max(task.get("lastSeq", 0), event.seq)
        if event.type == "progress" and isinstance(event.data.get("progress"), dict):
            task["progress"] = event.data["progress"]
        elif event.type == "state":
            task["state"] = event.data.get("state")  # type: ignore[typeddict-item]
            if isinstance(event.data.get("attempt"), int):
                task["attempt"] = event.data["attempt"]
            if task["state"] in FINAL_STATES:
                task["result"] = event.data.get("result")
                task["error"] = event.data.get("error")
            elif task["state"] == "running":
                task["error"] = None

    # -- time -----------------------------------------------------------

    def _remaining(self) -> Optional[float]:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def _read_timeout(self) -> float:
        remaining = self._remaining()
        if remaining is None:
            return self._watchdog
        return max(0.01, min(self._watchdog, remaining))

    def _check_deadline(self) -> None:
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            self._done = True
            self._drop()
            raise Timeout(None, "The events of task %s did not end within %g s" % (self._task_id, self._timeout))

    def _wait(self, seconds: float) -> None:
        remaining = self._remaining()
        if remaining is not None and remaining < seconds:
            self._closed.wait(max(0.0, remaining))
            self._check_deadline()
            return
        self._closed.wait(seconds)

    def _drop(self) -> None:
        with self._lock:
            response, self._response = self._response, None
        if response is not None:
            _shutdown(response)
            _close(response)


def _socket_of(response: http.client.HTTPResponse) -> Optional[socket.socket]:
    # CPython keeps the socket under the buffered reader; reaching it is the only way to
    # change a stream's read timeout or wake a blocked read. Without it, both are skipped.
    raw = getattr(getattr(response, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _shutdown(response: http.client.HTTPResponse) -> None:
    sock = _socket_of(response)
    if sock is not None:
        try:
            # Wakes a read blocked in another thread (closing the file does not).
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _close(response: http.client.HTTPResponse) -> None:
    try:
        response.close()
    except (OSError, http.client.HTTPException):
        pass


def _set_read_timeout(response: http.client.HTTPResponse, seconds: float) -> None:
    sock = _socket_of(response)
    if sock is not None:
        try:
            sock.settimeout(seconds)
        except OSError:
            pass
