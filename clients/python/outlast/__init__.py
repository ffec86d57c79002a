"""Outlast from Python: durable background tasks with live, resumable progress.

Standard library only (Python 3.9+). Start with :class:`Client`::

    from outlast import Client, NotFound

    client = Client("http://127.0.0.1:7391", token=owner_token)
    task = client.submit("demo.count", {"to": 20})["task"]
    for event in client.events(task["id"]):
        print(event.type, event.progress)
"""

from ._version import __version__
from .client import Client
from .errors import (
    BadCursor,
    BadRequest,
    Conflict,
    Forbidden,
    InternalError,
    InvalidInput,
    InvalidTitle,
    LeaseLost,
    NetworkError,
    NotFound,
    OutlastError,
    PayloadTooLarge,
    QueueFull,
    RangeNotSatisfiable,
    RateLimited,
    StoreVersion,
    Timeout,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    UnknownQueue,
    UnknownTaskName,
)
from .events import EventStream, SseMessage, SseParser
from .types import FINAL_STATES, Event, Progress, SignalResult, SubmitResult, Task, TaskError, TaskPage, TaskState, TokenResult

__all__ = [
    "__version__",
    "Client",
    "EventStream",
    "Event",
    "SseParser",
    "SseMessage",
    "Task",
    "TaskState",
    "TaskError",
    "Progress",
    "SubmitResult",
    "TaskPage",
    "SignalResult",
    "TokenResult",
    "FINAL_STATES",
    "OutlastError",
    "BadRequest",
    "BadCursor",
    "UnknownQueue",
    "InvalidTitle",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "UnknownTaskName",
    "Conflict",
    "LeaseLost",
    "PayloadTooLarge",
    "RangeNotSatisfiable",
    "InvalidInput",
    "TooManyRequests",
    "QueueFull",
    "RateLimited",
    "Unavailable",
    "StoreVersion",
    "InternalError",
    "NetworkError",
    "Timeout",
]
