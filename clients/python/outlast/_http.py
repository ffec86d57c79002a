"""The one HTTP transport of the package: urllib, JSON in and out, typed errors.

Everything that talks to an Outlast server (the client, the event stream,
later the worker) goes through :class:`Transport`, so base URLs, auth and
error mapping are decided once:

- ``base_url`` is where the API is mounted, without ``/api/v1``:
  ``http://127.0.0.1:7391``, or with a prefix, ``https://app.example/jobs``
  (a server made with ``createHandler(outlast, {basePath: "/jobs"})``).
- Every credential (an owner token, a task token, the admin key) goes in
  ``Authorization: Bearer …``: the server tells them apart itself
  (src/server/auth.ts).
- A non-2xx answer raises the :mod:`outlast.errors` class of its code;
  no answer at all raises :class:`~outlast.errors.NetworkError`, a socket
  timeout :class:`~outlast.errors.Timeout`.

This module is internal (its name starts with ``_``) but stable for the
package's own modules: ``request`` for anything, ``call`` for JSON routes,
``open`` for streams.
"""

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Mapping, Optional, Union

from ._version import __version__ as _version
from .errors import NetworkError, OutlastError, Timeout, error_from_body

__all__ = ["Transport", "Response", "TokenSource", "quote", "NO_BODY"]

#: A credential, or a function that gives the current one (called before each request).
TokenSource = Union[str, Callable[[], Optional[str]], None]


class _NoBody:
    def __repr__(self) -> str:
        return "NO_BODY"


#: "Send no body" (distinct from a JSON ``null`` body, which is ``None``).
NO_BODY: Any = _NoBody()


def quote(segment: str) -> str:
    """One path segment (a task id, a signal name), escaped so it cannot change the path."""
    return urllib.parse.quote(str(segment), safe="")


class Response:
    """A whole answer: ``status``, ``headers`` (lowercase names), ``body`` bytes."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        """The body parsed as JSON; None for an empty body."""
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))


class Transport:
    """Sends requests to one Outlast server as one caller.

    Args:
        base_url: the server's URL, with its mount prefix if any (a trailing ``/`` is ignored).
        token: the bearer credential (owner token, task token or admin key), a
            function returning it, or None to send none.
        timeout: seconds a request may wait for each read before raising
            :class:`~outlast.errors.Timeout` (default 30).
        headers: extra headers sent on every request (e.g. a ``User-Agent``).
    """

    def __init__(
        self,
        base_url: str,
        token: TokenSource = None,
        timeout: float = 30.0,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url:
            raise ValueError('base_url must be the server\'s URL, like "http://127.0.0.1:7391" or "https://app.example/jobs"')
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("base_url must start with http:// or https:// and name a host, not %r" % base_url)
        if parsed.query or parsed.fragment:
            raise ValueError("base_url may hold a path prefix but no query or fragment: %r" % base_url)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._headers = {"user-agent": "outlast-python/%s" % _version}
        for name, value in (headers or {}).items():
            self._headers[name.lower()] = value

    def token(self) -> Optional[str]:
        """The credential to send now."""
        return self._token() if callable(self._token) else self._token

    def url(self, path: str, query: Optional[Mapping[str, Any]] = None) -> str:
        """``base_url`` + ``path`` (which starts with ``/``) + the query's non-None values."""
        if not path.startswith("/"):
            raise ValueError("path must start with /: %r" % path)
        url = self.base_url + path
        if query:
            pairs = [(k, _query_value(v)) for k, v in query.items() if v is not None]
            if pairs:
                url += ("&" if "?" in path else "?") + urllib.parse.urlencode(pairs)
        return url

    def open(
        self,
        method: str,
        path: str,
        body: Any = NO_BODY,
        *,
        query: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
    ) -> http.client.HTTPResponse:
        """Sends the request and returns the open 2xx response for the caller to read and close.

        For streams: the socket's read timeout stays ``timeout`` for every
        later read. A non-2xx answer is read, closed and raised as its typed error.
        """
        all_headers = dict(self._headers)
        token = self.token()
        if token:
            all_headers["authorization"] = "Bearer " + token
        data = None
        if body is not NO_BODY:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
            all_headers["content-type"] = "application/json; charset=utf-8"
        for name, value in (headers or {}).items():
            all_headers[name.lower()] = value
        request = urllib.request.Request(self.url(path, query), data=data, headers=all_headers, method=method)
        wait = self.timeout if timeout is None else timeout
        try:
            return urllib.request.urlopen(request, timeout=wait)
        except urllib.error.HTTPError as answer:
            raise _error_of(answer) from None
        except (socket.timeout, TimeoutError) as error:
            raise Timeout(None, "%s %s: no answer within %g s" % (method, path, wait)) from error
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise Timeout(None, "%s %s: no answer within %g s" % (method, path, wait)) from error
            raise NetworkError(None, "%s %s: %s" % (method, self.url(path), reason)) from error
        except (OSError, http.client.HTTPException) as error:
            raise NetworkError(None, "%s %s: %s" % (method, self.url(path), error)) from error

    def request(
        self,
        method: str,
        path: str,
        body: Any = NO_BODY,
        *,
        query: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
    ) -> Response:
        """Sends the request and reads the whole 2xx answer; raises the typed error otherwise."""
        response = self.open(method, path, body, query=query, headers=headers, timeout=timeout)
        try:
            with response:
                content = response.read()
        except (socket.timeout, TimeoutError) as error:
            raise Timeout(None, "%s %s: the answer stopped arriving" % (method, path)) from error
        except (OSError, http.client.HTTPException) as error:
            raise NetworkError(None, "%s %s: the answer broke off: %s" % (method, path, error)) from error
        return Response(response.status, _lower(response.headers), content)

    def call(
        self,
        method: str,
        path: str,
        body: Any = NO_BODY,
        *,
        query: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """A JSON route: sends ``body`` as JSON (unless NO_BODY) and returns the parsed answer."""
        response = self.request(method, path, body, query=query, headers=headers, timeout=timeout)
        try:
            return response.json()
        except ValueError as error:
            raise OutlastError("bad_response", "%s %s answered %d with a body that is not JSON" % (method, path, response.status), response.status) from error


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _lower(headers: Any) -> Dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def retry_after_of(headers: Mapping[str, str]) -> Optional[float]:
    """Seconds from a ``Retry-After`` header given in seconds; None when absent or a date."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def _error_of(answer: urllib.error.HTTPError) -> OutlastError:
    headers = _lower(answer.headers) if answer.headers is not None else {}
    try:
        content = answer.read()
    except (OSError, http.client.HTTPException):
        content = b""
    finally:
        answer.close()
    try:
        body = json.loads(content.decode("utf-8")) if content else None
    except ValueError:
        body = None  # a proxy's page: the status says enough
    return error_from_body(answer.code, body, retry_after_of(headers))
