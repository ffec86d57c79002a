"""One claimed attempt: its lease, what the worker heard about it, and the ``ctx`` its function gets.

Every report goes through :meth:`Attempt.send`, which holds the attempt's
lock, so a finish or a hand-back never overtakes a report in flight and
nothing is sent once the attempt has ended. A ``lease_lost`` answer (or
``held: false`` in a heartbeat) marks the attempt lost: from then on every
``ctx`` call that would send raises :class:`~outlast.errors.LeaseLost`, and
the worker sends nothing more about it.
"""

import re
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, TypeVar

from .._http import Transport, quote
from ..errors import Forbidden, LeaseLost, NetworkError, NotFound, OutlastError, Timeout, Unavailable
from ._raw import raw_call
from .outcomes import Canceled

__all__ = ["Attempt", "Context"]

T = TypeVar("T")
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_TRANSIENT = (NetworkError, Timeout, Unavailable)


class Attempt:
    """The worker's side of one claimed attempt (internal)."""

    def __init__(self, transport: Transport, worker_id: str, claimed: Mapping[str, Any], lease_ms: int, progress_interval: float) -> None:
        self.transport = transport
        self.worker_id = worker_id
        self.task: Dict[str, Any] = dict(claimed["task"])
        self.task_id: str = self.task["id"]
        self.name: str = self.task["name"]
        self.lease: str = claimed["lease"]
        self.input: Any = claimed.get("input")
        self.attempt: int = int(claimed.get("attempt") or 1)
        self.steps: Dict[str, Any] = dict(claimed.get("steps") or {})
        self.checkpoint: Any = claimed.get("checkpoint")
        self.lease_ms = lease_ms
        self.progress_interval = progress_interval
        self.path = "/api/v1/worker/tasks/%s" % quote(self.task_id)
        self.lock = threading.RLock()
        self.ended = False  # finished or handed back: nothing more is sent
        self.lost_state: Optional[str] = None
        self.lost = False
        self.canceled = threading.Event()
        self.stopping = threading.Event()
        self.interrupted = threading.Event()  # canceled, lost or handed back: sleeps wake
        self._callbacks: List[Callable[[], None]] = []
        self._pending: Optional[Dict[str, Any]] = None
        self._pending_lock = threading.Lock()
        self._last_progress = 0.0

    # -- what the worker learns ------------------------------------------------------------

    def mark_lost(self, state: Optional[str]) -> None:
        with self.lock:
            if self.lost:
                return
            self.lost = True
            self.lost_state = state
        self.interrupted.set()
        self._run_callbacks()

    def mark_canceled(self) -> None:
        if self.canceled.is_set():
            return
        self.canceled.set()
        self.interrupted.set()
        self._run_callbacks()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        with self.lock:
            self._callbacks.append(callback)
            already = self.canceled.is_set() or self.lost
        if already:
            self._call(callback)

    def _run_callbacks(self) -> None:
        with self.lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            self._call(callback)

    @staticmethod
    def _call(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:  # a callback's failure must not stop the heartbeat that called it
            import logging

            logging.getLogger("outlast.worker").exception("an on_cancel callback raised")

    # -- sending ---------------------------------------------------------------------------

    def _lost_error(self) -> LeaseLost:
        return LeaseLost("lease_lost", "Task %s: this attempt's lease is no longer held" % self.task_id, 409, {"taskId": self.task_id, "state": self.lost_state})

    def send(self, fn: Callable[[], T], *, retry_for: Optional[float] = None) -> T:
        """Runs ``fn`` (one request) under the lock; a lost lease raises LeaseLost and marks it.

        Transient failures (no answer, 503) are tried again for up to
        ``retry_for`` seconds (default: the lease's length), after which
        the error is raised.
        """
        deadline = time.monotonic() + (self.lease_ms / 1000.0 if retry_for is None else retry_for)
        delay = 0.1
        while True:
            with self.lock:
                if self.lost or self.ended:
                    raise self._lost_error()
                try:
                    return fn()
                except LeaseLost as error:
                    state = error.details.get("state") if isinstance(error.details, Mapping) else None
                    self._mark_lost_locked(state)
                    raise
                except (NotFound, Forbidden):
                    self._mark_lost_locked(None)  # the task is gone, or no longer ours to see: stop too
                    raise
                except _TRANSIENT:
                    if time.monotonic() + delay > deadline:
                        raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _mark_lost_locked(self, state: Optional[str]) -> None:
        was = self.lost
        self.lost = True
        self.lost_state = state
        if not was:
            self.interrupted.set()
            threading.Thread(target=self._run_callbacks, daemon=True).start()

    def post(self, suffix: str, body: Dict[str, Any]) -> Any:
        return self.transport.call("POST", self.path + suffix, dict(body, lease=self.lease))

    def put(self, suffix: str, body: Dict[str, Any]) -> Any:
        return self.transport.call("PUT", self.path + suffix, dict(body, lease=self.lease))

    # -- progress, coalesced -----------------------------------------------------------------

    def set_progress(self, progress: Dict[str, Any]) -> None:
        with self._pending_lock:  # not the send lock: a report in flight must not block the task
            self._pending = progress

    def progress_due(self, now: float) -> bool:
        return self._pending is not None and now - self._last_progress >= self.progress_interval

    def flush_progress(self, block: bool = True) -> None:
        """Sends the latest progress if any; keeps it for later on a transient failure.

        ``block=False`` (the reporter) skips an attempt busy sending something else.
        """
        if not self.lock.acquire(blocking=block):
            return
        try:
            with self._pending_lock:
                progress = self._pending
                if progress is None or self.lost or self.ended or self.canceled.is_set():
                    return
                self._pending = None
            try:
                self.send(lambda: self.post("/progress", {"progress": progress}), retry_for=0)
                self._last_progress = time.monotonic()
            except _TRANSIENT:
                with self._pending_lock:
                    if self._pending is None:
                        self._pending = progress
            except OutlastError:
                pass  # lost (marked) or refused: the task's own next call says so
        finally:
            self.lock.release()

    # -- ending ------------------------------------------------------------------------------

    def end(self, body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Sends the finish (``body`` holds the outcome) once; None if already ended or lost."""
        with self.lock:
            if self.ended or self.lost:
                return None
            if body.get("outcome") != "released":
                self.flush_progress()  # the last progress always reaches the watchers
            try:
                answer = self.send(lambda: self.post("/finish", body))
            except OutlastError:
                answer = None
            self.ended = True
        self.interrupted.set()
        return answer


class Context:
    """What a task function gets besides its input: ``def speak(input, ctx): ...``.

    Attributes:
        task_id: the task's id.
        name: the task's name.
        task: the task as the API showed it when claimed (a dict).
        input: the task's input (also the function's first argument).
        attempt: 1 on the first run, 2 on the first retry…
        checkpoint: the last data saved with :meth:`save_checkpoint` by any attempt, or None.
        worker_id: this worker's id.
    """

    def __init__(self, attempt: Attempt) -> None:
        self._a = attempt
        self.task_id = attempt.task_id
        self.name = attempt.name
        self.task = attempt.task
        self.input = attempt.input
        self.attempt = attempt.attempt
        self.checkpoint = attempt.checkpoint
        self.worker_id = attempt.worker_id

    @property
    def cancelled(self) -> bool:
        """True once the task was canceled, or this attempt lost its lease: stop the work."""
        return self._a.canceled.is_set() or self._a.lost

    @property
    def stopping(self) -> bool:
        """True once the worker is shutting down: a task still running after the grace period is handed back."""
        return self._a.stopping.is_set()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Calls ``callback()`` (on the worker's heartbeat thread) when the task is canceled or its lease lost.

        Registered after that happened, it is called at once.
        """
        self._a.on_cancel(callback)

    def raise_if_cancelled(self) -> None:
        """Raises :class:`Canceled` (or LeaseLost) when the work should stop."""
        if self._a.lost:
            raise self._a._lost_error()
        if self._a.canceled.is_set():
            raise Canceled("Task %s was canceled" % self.task_id)

    def sleep(self, seconds: float) -> bool:
        """Sleeps up to ``seconds``; returns True early if the task was canceled or its lease lost."""
        return self._a.interrupted.wait(max(0.0, seconds)) or self.cancelled

    def progress(
        self,
        percent: Optional[float] = None,
        current: Optional[float] = None,
        total: Optional[float] = None,
        message: Optional[str] = None,
        data: Any = None,
    ) -> None:
        """Reports progress; returns at once (no request is made here).

        Reports are coalesced: at most one is sent per ``progress_interval``
        (0.25 s by default) by the worker's reporter, always the latest, and
        the last one is sent before the task finishes. After a cancel they
        are dropped; after a lost lease this raises LeaseLost.
        """
        if self._a.lost:
            raise self._a._lost_error()
        if percent is not None and not (isinstance(percent, (int, float)) and 0 <= percent <= 100):
            raise ValueError("percent is a number from 0 to 100, not %r" % (percent,))
        for label, value in (("current", current), ("total", total)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError("%s is a number, not %r" % (label, value))
        report: Dict[str, Any] = {}
        for key, value in (("percent", percent), ("current", current), ("total", total), ("message", message), ("data", data)):
            if value is not None:
                report[key] = value
        if not report:
            raise ValueError("progress needs at least one of percent, current, total, message, data")
        self._a.set_progress(report)

    def step(self, name: str, fn: Callable[[], T]) -> Any:
        """Runs ``fn()`` once per task: its result (JSON) is recorded, and on a retry it is returned
        from the record without calling ``fn`` again.

        The result is returned as recorded (a tuple comes back a list on a replay).
        """
        if not isinstance(name, str) or not 1 <= len(name) <= 200 or name.startswith("~"):
            raise ValueError("a step name is 1 to 200 characters, not starting with ~: %r" % (name,))
        if name in self._a.steps:
            return self._a.steps[name]
        self.raise_if_cancelled()
        result = fn()
        self.raise_if_cancelled()
        self._a.send(lambda: self._a.put("/steps/" + quote(name), {"result": result}))
        self._a.steps[name] = result
        return result

    def log(self, message: str) -> None:
        """Adds a log line to the task (1 to 10,000 characters; longer is cut). Dropped after a cancel."""
        text = str(message)[:10_000]
        if not text:
            raise ValueError("a log line needs at least one character")
        if self._a.canceled.is_set() and not self._a.lost:
            return
        self._a.send(lambda: self._a.post("/logs", {"message": text}))

    def save_artifact(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> Dict[str, Any]:
        """Uploads a file kept with the task (``GET /api/v1/tasks/:id/artifacts/:name``); returns its description."""
        if not isinstance(name, str) or not _ARTIFACT_NAME.match(name) or ".." in name:
            raise ValueError("an artifact name is 1 to 128 letters, digits, '.', '_' or '-', without '..': %r" % (name,))
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("artifact data is bytes, not %s" % type(data).__name__)
        self.raise_if_cancelled()
        body = bytes(data)
        a = self._a
        answer = a.send(lambda: raw_call(
            a.transport, "PUT", a.path + "/artifacts/" + quote(name), query={"lease": a.lease},
            data=body, content_type=content_type, timeout=max(30.0, a.transport.timeout),
        ))
        return answer["artifact"]

    def save_checkpoint(self, data: Any) -> None:
        """Saves free-form resume state, given as ``ctx.checkpoint`` to later attempts."""
        self.raise_if_cancelled()
        self._a.send(lambda: self._a.put("/checkpoint", {"data": data}))
        self.checkpoint = data

    def set_title(self, title: str) -> None:
        """Sets the task's title (1 to 200 characters)."""
        self.raise_if_cancelled()
        self._a.send(lambda: self._a.put("/title", {"title": title}))
