"""The shapes of the API's JSON (docs/api.md, docs/api-extensions.md) and of stream events.

Tasks and pages are plain dicts, typed with :class:`typing.TypedDict` so an
editor knows their keys; a newer server's extra fields pass through.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, TypedDict

__all__ = [
    "TaskState",
    "FINAL_STATES",
    "Progress",
    "TaskError",
    "Task",
    "SubmitResult",
    "TaskPage",
    "SignalResult",
    "TokenResult",
    "Event",
]

#: A task's state; ``waiting`` is a parent waiting for children, a sleep or a signal.
TaskState = Literal["queued", "running", "waiting", "succeeded", "failed", "canceled"]

#: States after which nothing happens to a task unless it is retried.
FINAL_STATES = frozenset(("succeeded", "failed", "canceled"))


class Progress(TypedDict, total=False):
    """What a handler last reported with ``ctx.progress``; every field is optional."""

    percent: float
    current: float
    total: float
    message: str
    data: Any
    children: Dict[str, int]


class TaskError(TypedDict, total=False):
    """Why a task failed: ``message`` always, ``code`` when the failure has one (``poison_pill``...)."""

    message: str
    code: str


class Task(TypedDict, total=False):
    """The task object of the API (docs/api.md, "Tasks")."""

    id: str
    name: str
    queue: str
    owner: str
    title: Optional[str]
    state: TaskState
    priority: int
    attempt: int
    maxAttempts: int
    progress: Progress
    position: Optional[int]
    etaMs: Optional[int]
    remainingMs: Optional[int]
    workerLost: bool
    result: Any
    error: Optional[TaskError]
    createdAt: str
    runAt: str
    startedAt: Optional[str]
    finishedAt: Optional[str]
    lastSeq: int
    parentId: Optional[str]
    childKey: Optional[str]
    waitingFor: Any
    deadLetter: bool


class SubmitResult(TypedDict):
    """What ``submit`` answers: the task, and a token that may read and watch only it."""

    task: Task
    token: str


class TaskPage(TypedDict):
    """One page of a list, newest first; pass ``nextCursor`` back as ``cursor`` for the next."""

    tasks: List[Task]
    nextCursor: Optional[str]


class SignalResult(TypedDict):
    """``delivered`` is False when the task was not waiting: the signal is kept until it asks."""

    task: Task
    delivered: bool


class TokenResult(TypedDict):
    """An owner token minted with the admin key, and when it expires."""

    token: str
    expiresAt: str


@dataclass(frozen=True)
class Event:
    """One event of a task's stream.

    Attributes:
        type: ``snapshot``, ``reset`` (the whole task), ``state``, ``progress``, ``log`` or ``step``.
        id: the stream's cursor after this event: pass it as ``after=`` to resume right after it.
        task_id: the task it belongs to.
        seq: the task's sequence number: one more per event (``progress`` may skip
            numbers, superseded updates being compacted); a snapshot's is the task's ``lastSeq``.
        data: the event's whole JSON ``data``.
    """

    type: str
    id: str
    task_id: str
    seq: int
    data: Dict[str, Any] = field(repr=False)

    @property
    def task(self) -> Optional[Task]:
        """The whole task, for ``snapshot`` and ``reset``; None for the others."""
        task = self.data.get("task")
        return task if self.type in ("snapshot", "reset") and isinstance(task, dict) else None  # type: ignore[return-value]

    @property
    def state(self) -> Optional[str]:
        """The task's state after this event: a ``state`` event's, or a snapshot's task's."""
        if self.type == "state":
            return self.data.get("state")
        task = self.task
        return task.get("state") if task is not None else None

    @property
    def progress(self) -> Optional[Progress]:
        """A ``progress`` event's progress, or a snapshot's task's current progress."""
        if self.type == "progress":
            return self.data.get("progress")
        task = self.task
        return task.get("progress") if task is not None else None

    @property
    def message(self) -> Optional[str]:
        """A ``log`` event's line."""
        return self.data.get("message") if self.type == "log" else None

    @property
    def is_final(self) -> bool:
        """True when the task reached succeeded, failed or canceled: the stream's last event."""
        return self.state in FINAL_STATES

    @property
    def result(self) -> Any:
        """The task's result on a final ``succeeded`` event (or snapshot)."""
        task = self.task
        return task.get("result") if task is not None else self.data.get("result")

    @property
    def error(self) -> Optional[TaskError]:
        """The task's error on a ``failed`` event (or snapshot), or a retry's attempt error."""
        task = self.task
        return task.get("error") if task is not None else self.data.get("error")
