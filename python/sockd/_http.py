"""The HTTP side: keep-alive connections to sockd's REST gateway.

Calls go over http.client connections kept in a pool, one connection per call
in flight (a blocking recv holds its connection until it answers, so threads
each get their own). The connections are made with the standard socket module
as it was when sockd was imported, so that `python3 -m sockd run`, which
replaces `socket`, never routes sockd's own traffic through sockd.
"""

import http.client
import json
import os
import socket as _socket_module
import threading
import time
import urllib.parse
import weakref

from . import errors

# The real socket module, even if sockd.socket has replaced it meanwhile.
_std = getattr(_socket_module, "_sockd_std", _socket_module)
_create_connection = _std.create_connection
_IPPROTO_TCP, _TCP_NODELAY = _std.IPPROTO_TCP, _std.TCP_NODELAY
_SHUT_RDWR = _std.SHUT_RDWR

try:
    import ssl as _ssl
except ImportError:  # pragma: no cover - Python built without ssl
    _ssl = None

DEFAULT_URL = "http://127.0.0.1:8080"

# Errors that mean the connection broke (or was already dead) rather than
# that sockd answered.
TRANSPORT_ERRORS = (http.client.HTTPException, ConnectionError, OSError, ValueError)

# How a call may be retried when its connection breaks:
NO_RETRY = 0  # the call may have taken effect: retrying could do it twice
RETRY = 1  # the call is idempotent (GET, offsets): retry on a new connection
# Grace added to a call's own timeout before the HTTP read gives up on sockd.
_READ_GRACE = 30.0
# Retries of a retryable call whose connection broke, and the pause between.
_ATTEMPTS = 6
_BACKOFF = (0.0, 0.02, 0.1, 0.25, 0.5, 1.0)
# A reused connection that broke before any answer, after sitting idle this
# long, was closed while idle: its request never ran, so it is safe to resend.
_STALE_AFTER = 2.0
_STALE_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
# Idle connections older than this are not reused: sockd closes keep-alive
# connections idle for --http-idle-timeout (a minute by default).
_MAX_IDLE = 30.0


_transports = weakref.WeakSet()


def _after_fork_in_child():
    for t in list(_transports):
        t._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Connection(http.client.HTTPConnection):
    """An HTTP connection over the real socket module, with TCP_NODELAY
    (a call is one small request and one small answer)."""

    def connect(self):
        self.sock = _create_connection((self.host, self.port), self.timeout, self.source_address)
        self.sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)

    def _send_output(self, message_body=None, encode_chunked=False):
        # One write for the head and a bytes body: http.client writes them
        # apart, which is two packets (and two system calls) per call.
        if isinstance(message_body, bytes) and not encode_chunked:
            self._buffer.extend((b"", message_body))
            msg = b"\r\n".join(self._buffer)
            del self._buffer[:]
            self.send(msg)
            return
        super()._send_output(message_body, encode_chunked)


class _TLSConnection(_Connection):
    """HTTPS to sockd (--tls-cert), verified by `context`."""

    def __init__(self, host, port, context, **kw):
        super().__init__(host, port, **kw)
        self._context = context

    def connect(self):
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


class Transport:
    """Sends JSON calls to sockd and decodes the answers.

    url: sockd's HTTP address (SOCKD_URL, default http://127.0.0.1:8080).
    token: a bearer token (SOCKD_TOKEN).
    ssl_context: for https:// URLs (default: the system's CAs, or the file
    named by SOCKD_CA_FILE)."""

    def __init__(self, url=None, token=None, ssl_context=None, max_idle=16):
        self.url = (url or os.environ.get("SOCKD_URL") or DEFAULT_URL).rstrip("/")
        token = token if token is not None else os.environ.get("SOCKD_TOKEN", "")
        u = urllib.parse.urlsplit(self.url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("SOCKD_URL must be http://host:port or https://host:port, not %r" % self.url)
        self._host = u.hostname
        self._port = u.port or (443 if u.scheme == "https" else 80)
        self._prefix = u.path.rstrip("/")
        self._tls = u.scheme == "https"
        if self._tls:
            if _ssl is None:
                raise ValueError("https:// needs Python's ssl module")
            if ssl_context is None:
                ssl_context = _ssl.create_default_context(cafile=os.environ.get("SOCKD_CA_FILE") or None)
        self._ssl_context = ssl_context
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = "Bearer " + token
        self._idle = []
        self._lock = threading.Lock()
        _transports.add(self)
        self._max_idle = max_idle
        self._pid = os.getpid()

    def _after_fork(self):
        # The child must not use its parent's connections (nor a lock a
        # thread of the parent held at the fork).
        self._lock = threading.Lock()
        self._idle, self._pid = [], os.getpid()

    # -- connections ---------------------------------------------------

    def _new_connection(self, timeout):
        if self._tls:
            return _TLSConnection(self._host, self._port, self._ssl_context, timeout=timeout)
        return _Connection(self._host, self._port, timeout=timeout)

    def _get(self, timeout):
        """A connection for one call: an idle one (reused, keep-alive) or a
        new one. Returns (connection, reused)."""
        with self._lock:
            if self._pid != os.getpid():
                # A forked child must not share its parent's connections.
                self._idle, self._pid = [], os.getpid()
            conn = None
            now = time.monotonic()
            while self._idle:
                c = self._idle.pop()
                if now - c.idle_since < _MAX_IDLE:
                    conn = c
                    break
                c.close()
        if conn is None:
            return self._new_connection(timeout), False
        if conn.timeout != timeout:  # settimeout is a system call or two: only when it changes
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
        return conn, True

    def _put(self, conn):
        conn.idle_since = time.monotonic()
        with self._lock:
            if len(self._idle) < self._max_idle and self._pid == os.getpid():
                self._idle.append(conn)
                return
        conn.close()

    def close(self):
        """Closes the idle connections (calls in flight keep theirs)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()

    # -- calls ---------------------------------------------------------

    def call(self, method, path, body=None, timeout=None, retry=NO_RETRY):
        """Makes one call and returns the decoded JSON answer (a dict).

        timeout is the call's own wait (the socket timeout it carries), or
        None for a call that may block indefinitely; the HTTP read allows a
        grace on top. A call whose connection breaks is retried on a new
        connection when `retry` says it is safe (idempotent, or carrying
        stream offsets); otherwise it raises SockdConnectionError, except
        that a request that never reached sockd (a stale keep-alive
        connection refusing it) is always retried."""
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        read_timeout = None if timeout is None else timeout + _READ_GRACE
        url = self._prefix + path
        last = None
        for attempt in range(_ATTEMPTS):
            if attempt:
                time.sleep(_BACKOFF[attempt])
            conn, reused = self._get(read_timeout)
            idle = time.monotonic() - getattr(conn, "idle_since", time.monotonic())
            sent = False
            try:
                conn.request(method, url, payload, self._headers)
                sent = True
                resp = conn.getresponse()
                data = resp.read()
            except TRANSPORT_ERRORS as e:
                conn.close()
                last = e
                if isinstance(e, OSError) and not sent and not reused and attempt >= 2:
                    break  # sockd is not there: do not wait out every retry
                if retry == RETRY or not sent:
                    continue
                if reused and idle >= _STALE_AFTER and isinstance(e, _STALE_ERRORS):
                    # A keep-alive connection that sat idle and was closed
                    # under us (sockd restarting, a proxy's idle timeout):
                    # the request died with it.
                    continue
                raise errors.connection_error(self.url, e) from e
            except BaseException:
                # KeyboardInterrupt and the like: the answer is unread, so
                # the connection is unusable. Closing it cancels the call.
                conn.close()
                raise
            if resp.will_close:
                conn.close()
            else:
                self._put(conn)
            return self._decode(resp, data)
        raise errors.connection_error(self.url, last) from last

    def _decode(self, resp, data):
        status = resp.status
        if status == 200:
            if not data:
                return {}
            try:
                return json.loads(data)
            except ValueError:
                raise errors.make_error(
                    "INTERNAL", "sockd sent an answer that is not JSON: %r" % data[:200], code=13,
                    http_status=status)
        try:
            st = json.loads(data) if data else {}
        except ValueError:
            st = {"code": _code_of_http(status), "message": "HTTP %d: %s" % (status, data[:200].decode("utf-8", "replace"))}
        if isinstance(st, dict) and "code" not in st:
            st["code"] = _code_of_http(status)
        return_err = errors.error_from_status(st, http_status=status, request_id=resp.getheader("X-Request-Id"))
        raise return_err

    def stream(self, method, path, body=None):
        """Opens a server stream (newline-delimited JSON, one {"result": ...}
        per line) on a connection of its own. Returns a Stream; the answer's
        headers are read at the first message (the gateway sends them with
        it), and an error answer is raised there."""
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        conn = self._new_connection(None)
        try:
            conn.request(method, self._prefix + path, payload, self._headers)
        except TRANSPORT_ERRORS as e:
            conn.close()
            raise errors.connection_error(self.url, e) from e
        except BaseException:
            conn.close()
            raise
        return Stream(self, conn)

    def raw(self, method, path, body=None):
        """A call whose answer is bytes (google.api.HttpBody streams): returns
        a Stream over the raw response."""
        return self.stream(method, path, body)


def _code_of_http(status):
    return {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 429: 8, 499: 1, 500: 13,
            501: 12, 503: 14, 504: 4}.get(status, 2)


class Stream:
    """A server stream from sockd: iterate for the messages (each the
    "result" of a line); close() ends it from any thread."""

    def __init__(self, transport, conn):
        self._transport = transport
        self._conn = conn
        self._resp = None
        self._closed = False

    def _response(self):
        if self._resp is None:
            try:
                resp = self._conn.getresponse()
            except TRANSPORT_ERRORS as e:
                if self._closed:  # close() from another thread
                    raise StopIteration
                self.close()
                raise errors.connection_error(self._transport.url, e) from e
            if resp.status != 200:
                data = resp.read()
                self.close()
                self._transport._decode(resp, data)
            self._resp = resp
        return self._resp

    def __iter__(self):
        return self

    def __next__(self):
        resp = self._response()
        while True:
            try:
                line = resp.readline()
            except TRANSPORT_ERRORS as e:
                if self._closed:
                    raise StopIteration
                self.close()
                raise errors.connection_error(self._transport.url, e) from e
            if not line:
                self.close()
                raise StopIteration
            line = line.strip()
            if not line:
                continue
            msg = json.loads(line)
            if "error" in msg:
                self.close()
                raise errors.error_from_status(msg["error"])
            return msg.get("result", msg)

    def read(self, n=-1):
        """Raw bytes of the answer (for HttpBody streams); b"" at the end."""
        try:
            resp = self._response()
        except StopIteration:
            return b""
        try:
            return resp.read(n) if n >= 0 else resp.read()
        except TRANSPORT_ERRORS:
            if self._closed:
                return b""
            raise

    def close(self):
        """Ends the stream; a reader blocked in another thread wakes up."""
        if self._closed:
            return
        self._closed = True
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(_SHUT_RDWR)
            except OSError:
                pass
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
