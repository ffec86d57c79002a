"""Typed errors for every code the Outlast HTTP API answers with.

Every non-2xx answer of the API has the body
``{"error": {"code", "message", "details"?}}`` (docs/api.md, "Errors").
:func:`error_from_body` turns one into the subclass registered for its
code, so callers can ``except NotFound`` or look at ``error.code``.
A code this module does not know still gives an :class:`OutlastError`
with that code: a newer server never crashes an older client.

Two codes are the client's own, as in the TypeScript client:
``network`` (no answer at all) and ``timeout`` (a deadline passed).
"""

from typing import Any, Dict, Mapping, Optional, Type

__all__ = [
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
    "error_from_body",
]


class OutlastError(Exception):
    """An error answer of the API, or a failure to get one.

    Attributes:
        code: the API's code (``not_found``, ``queue_full``, ...), or
            ``network`` / ``timeout`` for failures on this side.
        message: what went wrong, usually with how to fix it.
        status: the HTTP status, or 0 when there was no answer.
        details: the error's ``details`` (e.g. where an input is invalid), or None.
        retry_after: seconds from a ``Retry-After`` header (429, 503), else None.
    """

    #: The code instances of this class carry when raised without one.
    default_code = "internal"

    def __init__(
        self,
        code: Optional[str] = None,
        message: str = "",
        status: int = 0,
        details: Any = None,
        retry_after: Optional[float] = None,
    ) -> None:
        self.code = code if code is not None else self.default_code
        self.message = message
        self.status = status
        self.details = details
        self.retry_after = retry_after
        super().__init__(message)

    def __str__(self) -> str:
        where = " (HTTP %d)" % self.status if self.status else ""
        return "%s%s: %s" % (self.code, where, self.message)

    def __repr__(self) -> str:
        return "%s(code=%r, status=%r, message=%r)" % (type(self).__name__, self.code, self.status, self.message)


class BadRequest(OutlastError):
    """400: the body is not JSON, or a field has the wrong type or is unknown."""

    default_code = "bad_request"


class BadCursor(BadRequest):
    """400: a list ``cursor`` that is not a ``nextCursor`` the server gave out."""

    default_code = "bad_cursor"


class UnknownQueue(BadRequest):
    """400: a submit's ``queue`` that nothing on the server routes to."""

    default_code = "unknown_queue"


class InvalidTitle(BadRequest):
    """400: a ``title`` that is not 1 to 200 characters without NUL."""

    default_code = "invalid_title"


class Unauthorized(OutlastError):
    """401: a missing, malformed, expired or forged token."""

    default_code = "unauthorized"


class Forbidden(OutlastError):
    """403: a valid token that may not do this (an owner token on an admin route...)."""

    default_code = "forbidden"


class NotFound(OutlastError):
    """404: no such task, or one that belongs to another owner."""

    default_code = "not_found"


class UnknownTaskName(OutlastError):
    """404: a submit names a task that no worker has defined."""

    default_code = "unknown_task_name"


class Conflict(OutlastError):
    """409: an illegal transition (cancel a finished task, retry a running one, signal a finished one)."""

    default_code = "conflict"


class LeaseLost(Conflict):
    """409: a worker route call whose lease is no longer current; nothing was recorded.

    ``details`` is ``{"taskId", "state"}``: the task's state now. The worker
    stops that attempt and sends nothing more about it.
    """

    default_code = "lease_lost"


class PayloadTooLarge(OutlastError):
    """413: a body over the server's limit (1 MiB of JSON by default)."""

    default_code = "payload_too_large"


class RangeNotSatisfiable(OutlastError):
    """416: an artifact range outside the file."""

    default_code = "range_not_satisfiable"


class InvalidInput(OutlastError):
    """422: the task's (or signal's) schema rejected the input; ``details`` says where."""

    default_code = "invalid_input"


class TooManyRequests(OutlastError):
    """429: try again after ``retry_after`` seconds."""

    default_code = "rate_limited"


class QueueFull(TooManyRequests):
    """429: the queue (or the owner's share of it) is at its maximum length."""

    default_code = "queue_full"


class RateLimited(TooManyRequests):
    """429: the caller is over its limit."""

    default_code = "rate_limited"


class Unavailable(OutlastError):
    """503: the server is shutting down, or its store is unreachable."""

    default_code = "unavailable"


class StoreVersion(Unavailable):
    """503: the database schema is older or newer than the server (run ``outlast migrate``)."""

    default_code = "store_version"


class InternalError(OutlastError):
    """500: something went wrong on the server (it logged it)."""

    default_code = "internal"


class NetworkError(OutlastError):
    """No answer: the server is down, unreachable, or the connection broke."""

    default_code = "network"


class Timeout(OutlastError, TimeoutError):
    """A deadline of this client passed (a request's, or an event stream's ``timeout``)."""

    default_code = "timeout"


_BY_CODE: Dict[str, Type[OutlastError]] = {
    cls.default_code: cls
    for cls in (
        BadRequest,
        BadCursor,
        UnknownQueue,
        InvalidTitle,
        Unauthorized,
        Forbidden,
        NotFound,
        UnknownTaskName,
        Conflict,
        LeaseLost,
        PayloadTooLarge,
        RangeNotSatisfiable,
        InvalidInput,
        QueueFull,
        RateLimited,
        Unavailable,
        StoreVersion,
        InternalError,
        NetworkError,
        Timeout,
    )
}

# A code this client does not know is classed by its status, so `except Conflict` still works for it.
_BY_STATUS: Dict[int, Type[OutlastError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    416: RangeNotSatisfiable,
    422: InvalidInput,
    429: TooManyRequests,
    500: InternalError,
    503: Unavailable,
}


def error_from_body(status: int, body: Any, retry_after: Optional[float] = None) -> OutlastError:
    """The typed error for an answer with HTTP ``status`` and parsed JSON ``body``.

    ``body`` may be anything (a proxy's HTML page parsed to None): the error
    then carries ``http_<status>`` and a generic message.

    >>> error_from_body(404, {"error": {"code": "not_found", "message": "No task t1"}}).__class__.__name__
    'NotFound'
    """
    code = "http_%d" % status
    message = "The server answered %d" % status
    details = None
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        if isinstance(error.get("code"), str):
            code = error["code"]
        if isinstance(error.get("message"), str):
            message = error["message"]
        details = error.get("details")
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status) or OutlastError
    return cls(code, message, status, details, retry_after)
