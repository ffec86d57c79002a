"""Exceptions a task function raises (or meets) to end its attempt in a given way."""

from typing import Optional

__all__ = ["Retry", "Unrecoverable", "Canceled"]


class Retry(Exception):
    """Raise to run the task again ``after`` seconds from now (it spends the attempt).

    The server queues it again while attempts are left, else it fails. With
    no ``message`` the task's error reads "The worker asked to retry later"
    (code ``retry_later``).
    """

    def __init__(self, after: float = 0.0, message: Optional[str] = None, code: Optional[str] = None) -> None:
        if not isinstance(after, (int, float)) or after < 0:
            raise ValueError("Retry(after) is seconds >= 0, not %r" % (after,))
        self.after = float(after)
        self.message = message
        self.code = code
        super().__init__(message or "retry in %g s" % self.after)


class Unrecoverable(Exception):
    """Raise to fail the task for good: no retry, whatever attempts are left.

    Any other exception fails the attempt and is retried after the task's
    backoff while attempts are left.
    """

    #: Read by the worker: an exception whose ``retryable`` is False is not retried.
    retryable = False

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        self.code = code
        super().__init__(message)


class Canceled(Exception):
    """Raised by ``ctx.step``, ``ctx.save_artifact``… once the task was canceled.

    Let it propagate (or return): the server records the task ``canceled``
    whatever the attempt ends with.
    """
