"""The Outlast HTTP API from Python: submit, read, cancel, retry, signal, follow events.

Mirrors the TypeScript ``OutlastClient`` (src/client/client.ts) call for
call, with Python names: options are keyword arguments in snake_case and
are sent under the API's camelCase names.
"""

import datetime as _dt
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from ._http import TokenSource, Transport, quote
from .events import EventStream
from .types import SignalResult, SubmitResult, Task, TaskPage, TokenResult

__all__ = ["Client"]

_UNSET: Any = object()

RunAt = Union[str, int, float, _dt.datetime]


class Client:
    """One caller of one Outlast server.

    Args:
        base_url: where the server is, with its mount prefix if it has one
            (``http://127.0.0.1:7391``, ``https://app.example/jobs``); not ``/api/v1``.
        token: an owner token (sees and submits only its owner's tasks) or a
            task token (reads and watches one task), or a function that
            returns the current one.
        admin_key: the server's admin key (``OUTLAST_ADMIN_KEY``): may do
            everything, and submit or list for any owner (``owner=``).
            Give ``token`` or ``admin_key``, not both.
        timeout: seconds each request may wait for the server (default 30;
            event streams use their own ``watchdog``).

    Example::

        client = Client("http://127.0.0.1:7391", admin_key=os.environ["OUTLAST_ADMIN_KEY"])
        task = client.submit("demo.count", {"to": 10})["task"]
        for event in client.events(task["id"]):
            print(event.type, event.progress)
    """

    def __init__(
        self,
        base_url: str,
        token: TokenSource = None,
        *,
        admin_key: Optional[str] = None,
        timeout: float = 30.0,
    ) -> None:
        if token is not None and admin_key is not None:
            raise ValueError("Give Client either token= (an owner or task token) or admin_key=, not both")
        self.transport = Transport(base_url, token if admin_key is None else admin_key, timeout=timeout)

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    def submit(
        self,
        name: str,
        input: Any = _UNSET,
        *,
        owner: Optional[str] = None,
        queue: Optional[str] = None,
        priority: Optional[int] = None,
        idempotency_key: Optional[str] = None,
        run_at: Optional[RunAt] = None,
        delay_ms: Optional[int] = None,
        max_attempts: Optional[int] = None,
        timeout_ms: Optional[int] = None,
        title: Optional[str] = None,
        cost: Optional[int] = None,
        dedupe: Optional[Mapping[str, Any]] = None,
    ) -> SubmitResult:
        """Submits a task (``POST /api/v1/tasks``): ``{"task", "token"}``.

        With an ``idempotency_key`` that matches a queued, running or
        succeeded task of the same owner and name, that task is answered; a
        failed or canceled one is resumed from its steps. ``token`` may read
        and watch only this task: hand it to a browser. ``owner`` needs the
        admin key. ``dedupe`` is ``{"key", "mode", "delayMs"?, "maxDelayMs"?}``.
        """
        body = _options(
            owner=owner, queue=queue, priority=priority, idempotencyKey=idempotency_key, runAt=_run_at(run_at),
            delayMs=delay_ms, maxAttempts=max_attempts, timeoutMs=timeout_ms, title=title, cost=cost,
            dedupe=dict(dedupe) if dedupe is not None else None,
        )
        body["name"] = name
        if input is not _UNSET:
            body["input"] = input
        return self.transport.call("POST", "/api/v1/tasks", body)

    def submit_many(
        self,
        name: str,
        inputs: Sequence[Any],
        *,
        owner: Optional[str] = None,
        queue: Optional[str] = None,
        priority: Optional[int] = None,
        run_at: Optional[RunAt] = None,
        delay_ms: Optional[int] = None,
        max_attempts: Optional[int] = None,
        timeout_ms: Optional[int] = None,
        title: Optional[str] = None,
        cost: Optional[int] = None,
    ) -> List[Task]:
        """One task per input with the same options, stored together or not at all
        (``POST /api/v1/tasks/batch``, 1 to 10,000 inputs): the tasks in input order.
        No task tokens: follow them with this client's own credential."""
        if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
            raise TypeError("submit_many() takes a list of inputs, one per task")
        body = _options(
            owner=owner, queue=queue, priority=priority, runAt=_run_at(run_at), delayMs=delay_ms,
            maxAttempts=max_attempts, timeoutMs=timeout_ms, title=title, cost=cost,
        )
        body["name"] = name
        body["inputs"] = list(inputs)
        return self.transport.call("POST", "/api/v1/tasks/batch", body)["tasks"]

    def get(self, task_id: str) -> Task:
        """The task as it is now; :class:`~outlast.errors.NotFound` if it does not exist for this caller."""
        return self.transport.call("GET", "/api/v1/tasks/%s" % quote(task_id))["task"]

    def list(
        self,
        *,
        state: Optional[str] = None,
        queue: Optional[str] = None,
        name: Optional[str] = None,
        q: Optional[str] = None,
        owner: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> TaskPage:
        """One page of tasks, newest first (``GET /api/v1/tasks``): only the caller's own
        unless admin (``owner=`` picks one). ``q`` is a prefix of id, owner, name or title.
        Pass the answer's ``nextCursor`` as ``cursor`` for the next page (None: no more)."""
        query = {"state": state, "queue": queue, "name": name, "q": q, "owner": owner, "limit": limit, "cursor": cursor}
        return self.transport.call("GET", "/api/v1/tasks", query=query)

    def iter_tasks(self, **filters: Any) -> Iterator[Task]:
        """Every task :meth:`list` would page through with these filters, a page at a time."""
        if "cursor" in filters:
            raise TypeError("iter_tasks() follows the cursors itself")
        cursor: Optional[str] = None
        while True:
            page = self.list(cursor=cursor, **filters)
            for task in page["tasks"]:
                yield task
            cursor = page["nextCursor"]
            if cursor is None:
                return

    def cancel(self, task_id: str) -> Task:
        """Cancels a task: a queued one at once, a running one through its signal.
        A finished one: :class:`~outlast.errors.Conflict`."""
        return self.transport.call("POST", "/api/v1/tasks/%s/cancel" % quote(task_id))["task"]

    def retry(self, task_id: str) -> Task:
        """Runs a failed or canceled task again from its steps; any other: :class:`~outlast.errors.Conflict`."""
        return self.transport.call("POST", "/api/v1/tasks/%s/retry" % quote(task_id))["task"]

    def signal(self, task_id: str, name: str, payload: Any = None) -> SignalResult:
        """Sends signal ``name`` to a task (its handler's ``ctx.waitForSignal``).
        ``delivered`` is False when the task was not waiting: the signal is kept until it is."""
        path = "/api/v1/tasks/%s/signals/%s" % (quote(task_id), quote(name))
        return self.transport.call("POST", path, {"payload": payload})

    def events(
        self,
        task_id: str,
        after: Optional[str] = None,
        *,
        timeout: Optional[float] = None,
        watchdog: float = 40.0,
        max_backoff: float = 5.0,
    ) -> EventStream:
        """An iterator over a task's events that ends after its final state.

        It starts with a ``snapshot`` of the task (unless ``after`` is the id
        of an event from an earlier stream: then it goes on right after that
        event). Dropped connections and server restarts are survived: it
        reconnects with backoff (at most ``max_backoff`` seconds apart) and
        resumes with ``Last-Event-ID``, with no gap and no repeat. A stream
        silent for ``watchdog`` seconds (the server pings every 15 s) is
        taken for dead and reconnected. After ``timeout`` seconds in all it
        raises :class:`~outlast.errors.Timeout`; ``close()`` ends it early.
        """
        return EventStream(self.transport, task_id, after, timeout=timeout, watchdog=watchdog, max_backoff=max_backoff)

    def create_token(self, owner: str, *, ttl_seconds: Optional[int] = None, queues: Optional[Sequence[str]] = None) -> TokenResult:
        """Mints an owner token (admin key): it sees, submits and cancels ``owner``'s tasks only,
        on the listed ``queues`` if given."""
        body = _options(owner=owner, ttlSeconds=ttl_seconds, queues=list(queues) if queues is not None else None)
        return self.transport.call("POST", "/api/v1/tokens", body)


def _options(**fields: Any) -> Dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _run_at(value: Optional[RunAt]) -> Optional[Union[str, int, float]]:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise ValueError("run_at must be an aware datetime (with a time zone), e.g. datetime.now(timezone.utc)")
        return value.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value
