"""Requests the JSON transport cannot make: a raw body (artifact uploads) and
a long poll that another thread can cut short (the claim, on shutdown).

Each goes on a connection of its own, so :meth:`Abortable.abort` can shut
its socket from a signal handler or another thread: the blocked read then
returns at once, and the server hands back whatever it had claimed for a
caller that went away (docs/api-extensions.md, "Claim").
"""

import http.client
import json
import socket
import threading
import urllib.parse
from typing import Any, Mapping, Optional

from .._http import Transport, retry_after_of
from ..errors import NetworkError, OutlastError, Timeout, error_from_body

__all__ = ["Abortable", "Aborted", "raw_call"]


class Aborted(Exception):
    """The request was cut short by :meth:`Abortable.abort`."""


class Abortable:
    """A handle on one request in flight; ``abort()`` may be called from any thread, any time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Optional[http.client.HTTPConnection] = None
        self.aborted = False

    def _attach(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if self.aborted:
                raise Aborted()
            self._connection = connection

    def _detach(self) -> None:
        with self._lock:
            self._connection = None

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            connection = self._connection
        if connection is not None and connection.sock is not None:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing left to cut


def raw_call(
    transport: Transport,
    method: str,
    path: str,
    *,
    query: Optional[Mapping[str, Any]] = None,
    json_body: Any = None,
    data: Optional[bytes] = None,
    content_type: Optional[str] = None,
    timeout: float = 30.0,
    handle: Optional[Abortable] = None,
) -> Any:
    """Sends one request and returns its parsed JSON answer; non-2xx raises the typed error."""
    url = urllib.parse.urlsplit(transport.url(path, query))
    headers = dict(transport._headers)  # the package's own transport: same user agent and extras
    token = transport.token()
    if token:
        headers["authorization"] = "Bearer " + token
    body = data
    if json_body is not None:
        body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        headers["content-type"] = "application/json; charset=utf-8"
    elif content_type is not None:
        headers["content-type"] = content_type
    target = url.path + ("?" + url.query if url.query else "")
    cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = cls(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        if handle is not None:
            handle._attach(connection)
        connection.request(method, target, body=body, headers=headers)
        answer = connection.getresponse()
        content = answer.read()
        status = answer.status
        answer_headers = {k.lower(): v for k, v in answer.getheaders()}
    except (socket.timeout, TimeoutError) as error:
        if handle is not None and handle.aborted:
            raise Aborted() from None
        raise Timeout(None, "%s %s: no answer within %g s" % (method, path, timeout)) from error
    except (OSError, http.client.HTTPException) as error:
        if handle is not None and handle.aborted:
            raise Aborted() from None
        raise NetworkError(None, "%s %s: %s" % (method, path, error)) from error
    finally:
        if handle is not None:
            handle._detach()
        connection.close()
    # An answer read in full is returned even if aborted meanwhile: its tasks are ours to hand back.
    try:
        parsed = json.loads(content.decode("utf-8")) if content else None
    except ValueError:
        parsed = None
    if status >= 300:
        raise error_from_body(status, parsed, retry_after_of(answer_headers))
    if content and parsed is None:
        raise OutlastError("bad_response", "%s %s answered %d with a body that is not JSON" % (method, path, status), status)
    return parsed
