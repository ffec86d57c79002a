"""The worker: claims tasks over HTTP, runs each on a thread of its own, keeps their leases.

Three threads besides the tasks':

- the claim loop (``run()``'s thread): one long-polling claim at a time,
  for as many tasks as there are free slots;
- the heartbeat: every ``heartbeatMs`` one call renews every lease held and
  brings back cancel requests and lost leases (also sent when idle, so the
  worker stays in the server's workers list);
- the reporter: sends each task's latest progress, at most once per
  ``progress_interval``.

On SIGTERM or SIGINT (or :meth:`Worker.stop`) it stops claiming, lets the
running tasks finish for ``grace`` seconds, then hands back the ones still
running (``outcome: "released"``: queued again, the attempt not spent).
"""

import json
import logging
import os
import random
import re
import signal
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from .._http import Transport
from ..errors import (
    Forbidden,
    InternalError,
    NetworkError,
    OutlastError,
    Timeout,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    UnknownTaskName,
)
from ._raw import Abortable, Aborted, raw_call
from .context import Attempt, Context
from .outcomes import Canceled, Retry

__all__ = ["Worker", "TaskFunction"]

log = logging.getLogger("outlast.worker")

#: ``fn(input, ctx)``: returns the task's result (JSON), or raises.
TaskFunction = Callable[[Any, Context], Any]

_WORKER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CODE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_TRANSIENT = (NetworkError, Timeout, Unavailable, InternalError, TooManyRequests)


def default_worker_id() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:80] or "host"
    return "%s:%d:%06x" % (host, os.getpid(), random.getrandbits(24))


class Worker:
    """Runs the task functions registered with :meth:`task` for one Outlast server.

    Args:
        url: the server's URL (with its mount prefix if any); default ``$OUTLAST_URL``.
        key: a worker key (``owk_…``); default ``$OUTLAST_WORKER_KEY``.
        queues: claim only the tasks registered with one of these queues
            (``@worker.task(name, queue=…)``; tasks registered without a queue are always claimed).
        concurrency: tasks run at once (each on its own thread).
        worker_id: this worker's name, the same for its whole life; default ``HOST:PID:RANDOM``.
        lease_ms: the lease each claim asks for (default: the server's).
        poll_seconds: how long one claim may wait for work (a long poll, at most 30).
        grace: seconds running tasks get to finish on shutdown before they are handed back.
        progress_interval: the least time between two progress reports of one task.
        claim_gather: while some tasks run, how long the claim loop waits for half the
            slots to be free before claiming fewer (seconds): fewer, larger claims.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        key: Optional[str] = None,
        *,
        queues: Optional[Sequence[str]] = None,
        concurrency: int = 1,
        worker_id: Optional[str] = None,
        lease_ms: Optional[int] = None,
        poll_seconds: float = 20.0,
        grace: float = 10.0,
        progress_interval: float = 0.25,
        claim_gather: float = 0.005,
    ) -> None:
        self.url = url
        self.key = key
        self.queues = list(queues) if queues is not None else None
        self.concurrency = concurrency
        self.worker_id = worker_id
        self.lease_ms = lease_ms
        self.poll_seconds = poll_seconds
        self.grace = grace
        self.progress_interval = progress_interval
        self.claim_gather = claim_gather
        self._tasks: Dict[str, TaskFunction] = {}
        self._task_queues: Dict[str, Optional[str]] = {}
        self._running: Dict[str, Attempt] = {}
        self._slots = threading.Condition()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._claim: Optional[Abortable] = None
        self._heartbeat_ms = 2000
        self._beat_now = threading.Event()  # a claim changed the interval: the heartbeat re-times itself
        self._thread: Optional[threading.Thread] = None
        self._transport: Optional[Transport] = None
        self.error: Optional[BaseException] = None  # why run() ended, when it did not end by a stop

    # -- registering -------------------------------------------------------------------------

    def task(self, name: str, *, queue: Optional[str] = None) -> Callable[[TaskFunction], TaskFunction]:
        """Registers ``fn(input, ctx)`` as the handler of the task ``name`` (declared on the
        server with ``outlast.remote(name, …)``); returns ``fn`` unchanged."""
        if not isinstance(name, str) or not name:
            raise ValueError("a task name is a non-empty string")

        def register(fn: TaskFunction) -> TaskFunction:
            if name in self._tasks:
                raise ValueError("task %r is registered twice" % name)
            self._tasks[name] = fn
            self._task_queues[name] = queue
            return fn

        return register

    @property
    def names(self) -> List[str]:
        """The task names this worker claims."""
        return [n for n, q in self._task_queues.items() if q is None or self.queues is None or q in self.queues]

    @property
    def running(self) -> List[str]:
        """The ids of the tasks running now."""
        with self._slots:
            return list(self._running)

    # -- running -----------------------------------------------------------------------------

    def _check(self) -> Transport:
        url = self.url or os.environ.get("OUTLAST_URL")
        key = self.key or os.environ.get("OUTLAST_WORKER_KEY")
        if not url:
            raise ValueError("the worker needs the server's URL (url=… or $OUTLAST_URL)")
        if not key:
            raise ValueError("the worker needs a worker key (key=… or $OUTLAST_WORKER_KEY)")
        if not isinstance(self.concurrency, int) or not 1 <= self.concurrency <= 100:
            raise ValueError("concurrency is a whole number from 1 to 100, not %r" % (self.concurrency,))
        if self.worker_id is None:
            self.worker_id = default_worker_id()
        if not _WORKER_ID.match(self.worker_id):
            raise ValueError("worker_id is 1 to 128 letters, digits, '.', '_', ':' or '-': %r" % (self.worker_id,))
        if not self.names:
            raise ValueError("no task to claim: register one with @worker.task(name)" + (" on the queues %s" % self.queues if self.queues else ""))
        if not 0 <= self.poll_seconds <= 30:
            raise ValueError("poll_seconds is 0 to 30")
        return Transport(url, token=key)

    def run(self, install_signals: bool = True) -> None:
        """Claims and runs tasks until stopped (SIGTERM/SIGINT, or :meth:`stop`); then drains and returns.

        A refusal that retrying cannot cure (a bad key, a task the server
        does not know, a queue the key does not name) stops the worker and
        is raised.
        """
        self._transport = self._check()
        if install_signals and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda _n, _f: self._request_stop())
        helpers = [threading.Thread(target=self._heartbeat_loop, name="outlast-heartbeat", daemon=True),
                   threading.Thread(target=self._report_loop, name="outlast-progress", daemon=True)]
        for thread in helpers:
            thread.start()
        log.info("worker %s: claiming %s from %s (concurrency %d)", self.worker_id, ", ".join(self.names), self._transport.base_url, self.concurrency)
        try:
            self._claim_loop()
        except BaseException as error:
            self.error = error
            raise
        finally:
            self._request_stop()
            self._drain()
            self._done.set()
            self._beat_now.set()
            for thread in helpers:
                thread.join(5)
            log.info("worker %s: stopped", self.worker_id)

    def start(self) -> "Worker":
        """Runs the worker on a background thread (no signal handlers); :meth:`stop` ends it."""
        self._check()
        self._thread = threading.Thread(target=self._run_quietly, name="outlast-worker", daemon=True)
        self._thread.start()
        return self

    def _run_quietly(self) -> None:
        try:
            self.run(install_signals=False)
        except BaseException:
            log.exception("worker %s ended", self.worker_id)

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stops claiming and waits until the worker drained (running tasks get ``grace`` seconds)."""
        self._request_stop()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.grace + 30)

    def _request_stop(self) -> None:
        self._stop.set()
        claim = self._claim
        if claim is not None:
            claim.abort()
        with self._slots:
            self._slots.notify_all()

    def _claim_loop(self) -> None:
        assert self._transport is not None
        failures = 0
        while not self._stop.is_set():
            with self._slots:
                free = self.concurrency - len(self._running)
                if free <= 0:
                    self._slots.wait(1.0)
                    continue
                # Busy: a moment for more slots to free, so one claim takes several tasks
                # instead of one call per task as each finishes.
                wanted = max(1, self.concurrency // 2)
                deadline = time.monotonic() + self.claim_gather
                while free < wanted and self._running and not self._stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._slots.wait(left)
                    free = self.concurrency - len(self._running)
            body: Dict[str, Any] = {"workerId": self.worker_id, "names": self.names, "limit": free,
                                    "waitMs": int(self.poll_seconds * 1000), "pid": os.getpid()}
            if self.lease_ms is not None:
                body["leaseMs"] = self.lease_ms
            handle = Abortable()
            self._claim = handle
            if self._stop.is_set():
                break
            try:
                answer = raw_call(self._transport, "POST", "/api/v1/worker/claim", json_body=body,
                                  timeout=self.poll_seconds + 30, handle=handle)
                failures = 0
            except Aborted:
                break
            except _TRANSIENT as error:
                failures += 1
                wait = min(30.0, 0.5 * 2 ** min(failures, 6)) * (0.5 + random.random() / 2)
                if isinstance(error, TooManyRequests) and error.retry_after:
                    wait = max(wait, error.retry_after)
                log.warning("worker %s: claim failed (%s); again in %.1f s", self.worker_id, error, wait)
                self._stop.wait(wait)
                continue
            finally:
                self._claim = None
            heartbeat_ms = int(answer.get("heartbeatMs") or self._heartbeat_ms)
            if heartbeat_ms != self._heartbeat_ms:
                self._heartbeat_ms = heartbeat_ms
                self._beat_now.set()
            for claimed in answer.get("tasks") or []:
                self._begin(claimed)

    def _begin(self, claimed: Mapping[str, Any]) -> None:
        assert self._transport is not None and self.worker_id is not None
        lease_ms = self.lease_ms or max(1000, self._heartbeat_ms * 3)
        attempt = Attempt(self._transport, self.worker_id, claimed, lease_ms, self.progress_interval)
        if self._stop.is_set():
            attempt.end({"outcome": "released"})  # claimed as the stop came: hand it straight back
            return
        fn = self._tasks.get(attempt.name)
        with self._slots:
            self._running[attempt.task_id] = attempt
        thread = threading.Thread(target=self._run_task, args=(attempt, fn), name="outlast-task-" + attempt.task_id, daemon=True)
        thread.start()

    def _run_task(self, attempt: Attempt, fn: Optional[TaskFunction]) -> None:
        try:
            body = self._outcome(attempt, fn)
            if body is not None:
                attempt.end(body)
        finally:
            with self._slots:
                self._running.pop(attempt.task_id, None)
                self._slots.notify_all()

    def _outcome(self, attempt: Attempt, fn: Optional[TaskFunction]) -> Optional[Dict[str, Any]]:
        """Runs the function; the finish body for how it ended, or None to send nothing."""
        if fn is None:
            return _failed("No function for task %r in this worker" % attempt.name, "no_handler")
        try:
            result = fn(attempt.input, Context(attempt))
        except Retry as asked:
            body: Dict[str, Any] = {"outcome": "retry", "afterMs": int(asked.after * 1000)}
            if asked.message:
                body["error"] = _error(asked.message, asked.code)
            return body
        except Canceled as stop:
            return _failed(str(stop) or "canceled", "canceled")
        except OutlastError as error:
            if attempt.lost:
                log.info("task %s: lease lost (%s); attempt dropped", attempt.task_id, attempt.lost_state)
                return None
            return _failed(error.message or str(error), error.code)
        except Exception as error:
            if attempt.lost:
                return None
            log.info("task %s failed: %r", attempt.task_id, error)
            body = _failed(str(error) or type(error).__name__, _code_of(error))
            if getattr(error, "retryable", True) is False:
                body["retryable"] = False
            return body
        if attempt.lost:
            return None
        try:
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as error:
            return _failed("The task's result is not JSON: %s" % error, "bad_result")
        return {"outcome": "succeeded", "result": result}

    def _drain(self) -> None:
        """After a stop: the grace period for running tasks, then hand back what is left."""
        with self._slots:
            attempts = list(self._running.values())
        for attempt in attempts:
            attempt.stopping.set()
        deadline = time.monotonic() + max(0.0, self.grace)
        with self._slots:
            while self._running and time.monotonic() < deadline:
                self._slots.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            left = list(self._running.values())
        for attempt in left:
            log.info("task %s: still running after %g s of grace; handed back", attempt.task_id, self.grace)
            attempt.end({"outcome": "released"})
            attempt.mark_lost(None)  # its thread must send nothing more

    # -- the helper threads ------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        assert self._transport is not None
        while True:
            self._beat_now.wait(self._heartbeat_ms / 1000.0)
            self._beat_now.clear()
            if self._done.is_set():
                return
            with self._slots:
                attempts = [a for a in self._running.values() if not a.ended and not a.lost]
            body = {"workerId": self.worker_id, "tasks": [{"taskId": a.task_id, "lease": a.lease} for a in attempts], "pid": os.getpid()}
            try:
                answer = self._transport.call("POST", "/api/v1/worker/heartbeat", body, timeout=max(5.0, self._heartbeat_ms / 1000.0 * 3))
            except (Unauthorized, Forbidden) as error:
                log.error("worker %s: heartbeat refused (%s)", self.worker_id, error)
                continue
            except OutlastError as error:
                log.warning("worker %s: heartbeat failed (%s)", self.worker_id, error)
                continue
            self._heartbeat_ms = int(answer.get("heartbeatMs") or self._heartbeat_ms)
            by_id = {a.task_id: a for a in attempts}
            for status in answer.get("tasks") or []:
                attempt = by_id.get(status.get("taskId"))
                if attempt is None:
                    continue
                if not status.get("held"):
                    attempt.mark_lost(status.get("state"))
                elif status.get("cancelRequested"):
                    attempt.mark_canceled()

    def _report_loop(self) -> None:
        while not self._done.wait(self.progress_interval / 2):
            now = time.monotonic()
            with self._slots:
                attempts = list(self._running.values())
            for attempt in attempts:
                if attempt.progress_due(now):
                    attempt.flush_progress(block=False)


def _error(message: str, code: Optional[str]) -> Dict[str, Any]:
    error: Dict[str, Any] = {"message": message[:4000] or "failed"}
    if code is not None and _CODE.match(code):
        error["code"] = code
    return error


def _failed(message: str, code: Optional[str]) -> Dict[str, Any]:
    return {"outcome": "failed", "error": _error(message, code)}


def _code_of(error: BaseException) -> str:
    code = getattr(error, "code", None)
    return code if isinstance(code, str) and _CODE.match(code) else type(error).__name__
