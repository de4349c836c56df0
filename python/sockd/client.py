"""The low-level client: one method per RPC of sockd's REST gateway.

    from sockd import Client
    c = Client()                       # SOCKD_URL, SOCKD_TOKEN
    lst = c.create_socket(bind_address="127.0.0.1:0", backlog=5)
    conn = c.accept(lst["id"], timeout=5)
    got = c.recv(conn["id"], 1024, from_offset=0)
    c.send(conn["id"], got.data, all=True, offset=0)

Sockets, leases and server info come back as the JSON objects of the REST
API (dicts with protojson's lowerCamelCase keys: "id", "localAddress",
"bytesSent" as a string, ...). Recv and Send return small result objects.
Timeouts are seconds (float) or None; addresses are "host:port" strings.
Every failure raises a sockd.errors.SockdError (an OSError).

Stream offsets (DESIGN.md, "Offsets"): give `from_offset` to recv and
`offset` to send and the call is retried on a new connection when its HTTP
connection breaks, without losing or doubling a byte; sockd.socket always
does.
"""

import base64
import urllib.parse

from . import _http
from ._http import NO_RETRY, RETRY

__all__ = ["Client", "Received", "Sent", "duration", "parse_duration", "format_address", "parse_address"]

_b64encode = base64.b64encode
_b64decode = base64.b64decode


def duration(seconds):
    """Seconds as a google.protobuf.Duration JSON string: 1.5 -> "1.5s"."""
    if seconds is None:
        return None
    if seconds < 0:
        raise ValueError("a duration must not be negative")
    if seconds == int(seconds):
        return "%ds" % seconds
    return ("%.9f" % seconds).rstrip("0") + "s"


def parse_duration(text):
    """A Duration JSON string ("3600s", "0.250s") as float seconds; None
    for None or ""."""
    if not text:
        return None
    return float(text[:-1]) if text.endswith("s") else float(text)


def format_address(host, port):
    """host and port as sockd writes addresses: "127.0.0.1:80", "[::1]:80",
    "localhost:80", ":80" (the wildcard)."""
    if ":" in host:
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


def parse_address(text):
    """"host:port" or "[v6]:port" as (host, port); ("", 0) for ""."""
    if not text:
        return "", 0
    host, _, port = text.rpartition(":")
    if host.startswith("["):
        host = host[1:-1]
    return host, int(port)


class Received:
    """What a Recv or RecvFrom returned: data (bytes), eof, offset (TCP: the
    stream offset of data's first byte), truncated and address (UDP)."""

    __slots__ = ("data", "eof", "offset", "truncated", "address")

    def __init__(self, data, eof, offset, truncated, address):
        self.data, self.eof, self.offset, self.truncated, self.address = data, eof, offset, truncated, address

    def __repr__(self):
        return "Received(data=%r, eof=%r, offset=%r, truncated=%r, address=%r)" % (
            self.data, self.eof, self.offset, self.truncated, self.address)


class Sent:
    """What a Send returned: bytes_sent, and offset (TCP: the write stream's
    offset after the call)."""

    __slots__ = ("bytes_sent", "offset")

    def __init__(self, bytes_sent, offset):
        self.bytes_sent, self.offset = bytes_sent, offset

    def __repr__(self):
        return "Sent(bytes_sent=%r, offset=%r)" % (self.bytes_sent, self.offset)


def _quote(id_):
    return urllib.parse.quote(id_, safe="")


def _compact(d):
    return {k: v for k, v in d.items() if v is not None}


def _received(r):
    data = r.get("data")
    data = _b64decode(data) if data else b""
    if "text" in r and not data:
        data = r["text"].encode("utf-8")
    return Received(data, bool(r.get("eof")), int(r.get("offset", 0)), bool(r.get("truncated")), r.get("address", ""))


class Client:
    """A connection to one sockd over its REST gateway.

    url: "http://host:port" (default: SOCKD_URL, else http://127.0.0.1:8080).
    token: a bearer token (default: SOCKD_TOKEN).
    ssl_context: for an https:// url."""

    def __init__(self, url=None, token=None, ssl_context=None):
        self.transport = _http.Transport(url, token, ssl_context)
        self._info = None

    @property
    def url(self):
        return self.transport.url

    def close(self):
        """Closes the idle HTTP connections."""
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, path, body=None, timeout=None, retry=NO_RETRY):
        return self.transport.call(method, path, body, timeout, retry)

    # -- sockets -------------------------------------------------------

    def create_socket(self, protocol="tcp", family="ipv4", name=None, labels=None, timeout=None,
                      options=None, bind_address=None, listen=False, backlog=None,
                      connect_address=None, connect_timeout=None, idle_timeout=None, lease_id=None,
                      capture=None):
        """CreateSocket (socket(2), and optionally setsockopt, bind, listen,
        connect in that order). protocol "tcp"/"udp", family "ipv4"/"ipv6";
        options is [(name, value)] or a dict; capture a dict
        {"enabled": True, "ringBytes": N}. Returns the Socket."""
        body = {
            "protocol": "PROTOCOL_" + protocol.upper(),
            "family": "FAMILY_" + family.upper(),
            "name": name,
            "labels": labels,
            "timeout": duration(timeout),
            "bindAddress": bind_address,
            "listen": True if listen else None,
            "backlog": backlog,
            "connectAddress": connect_address,
            "connectTimeout": duration(connect_timeout),
            "idleTimeout": duration(idle_timeout),
            "leaseId": lease_id,
            "capture": capture,
        }
        if options:
            items = options.items() if isinstance(options, dict) else options
            body["options"] = [{"option": k, "value": v} for k, v in items]
        wait = None
        if connect_address:
            wait = connect_timeout if connect_timeout is not None else timeout
        return self._call("POST", "/v1/sockets", _compact(body), timeout=wait)

    def get_socket(self, id):
        """GetSocket: state, addresses, fd, timeout, counters."""
        return self._call("GET", "/v1/sockets/" + _quote(id), retry=RETRY)

    def list_sockets(self, label_selector=None, state=None, protocol=None, page_size=None, page_token=None):
        """ListSockets: one page, {"sockets": [...], "nextPageToken": ...}."""
        q = _compact({"labelSelector": label_selector, "state": state, "protocol": protocol,
                      "pageSize": page_size, "pageToken": page_token})
        path = "/v1/sockets" + ("?" + urllib.parse.urlencode(q) if q else "")
        return self._call("GET", path, retry=RETRY)

    def iter_sockets(self, label_selector=None, state=None, protocol=None):
        """Every socket that matches, page after page."""
        token = None
        while True:
            page = self.list_sockets(label_selector, state, protocol, page_token=token)
            for s in page.get("sockets", ()):
                yield s
            token = page.get("nextPageToken")
            if not token:
                return

    def close_socket(self, id):
        """CloseSocket: close(2). Returns the last snapshot."""
        return self._call("DELETE", "/v1/sockets/" + _quote(id))

    def bind(self, id, address):
        """Bind: bind(2) to "host:port" (port 0: the kernel picks)."""
        return self._call("POST", "/v1/sockets/%s:bind" % _quote(id), {"address": address})

    def listen(self, id, backlog=None):
        """Listen: listen(2); backlog None means 128."""
        return self._call("POST", "/v1/sockets/%s:listen" % _quote(id), _compact({"backlog": backlog}))

    def accept(self, id, timeout=None, name=None):
        """Accept: waits for a connection; returns the new connected Socket."""
        return self._call("POST", "/v1/sockets/%s:accept" % _quote(id),
                          _compact({"timeout": duration(timeout), "name": name}), timeout=timeout)

    def connect(self, id, address, timeout=None):
        """Connect: connect(2); the error's errno is what connect_ex returns."""
        return self._call("POST", "/v1/sockets/%s:connect" % _quote(id),
                          _compact({"address": address, "timeout": duration(timeout)}), timeout=timeout)

    def shutdown(self, id, how):
        """Shutdown: how is "read", "write" or "both"."""
        return self._call("POST", "/v1/sockets/%s:shutdown" % _quote(id),
                          {"how": "SHUTDOWN_HOW_" + how.upper()}, retry=RETRY)

    def set_option(self, id, option, value):
        """SetOption: returns the value the kernel reports back."""
        r = self._call("POST", "/v1/sockets/%s:setOption" % _quote(id),
                       {"option": option, "value": int(value)}, retry=RETRY)
        return int(r.get("value", 0))

    def get_option(self, id, option):
        """GetOption: the kernel's value."""
        r = self._call("GET", "/v1/sockets/%s/options/%s" % (_quote(id), _quote(option)), retry=RETRY)
        return int(r.get("value", 0))

    def set_timeout(self, id, timeout):
        """SetTimeout: None blocks, 0 is non-blocking."""
        return self._call("POST", "/v1/sockets/%s:setTimeout" % _quote(id),
                          _compact({"timeout": duration(timeout)}), retry=RETRY)

    def set_capture(self, id, enabled=True, ring_bytes=None):
        """SetCapture: start or stop recording the socket's traffic."""
        return self._call("POST", "/v1/sockets/%s:setCapture" % _quote(id),
                          _compact({"enabled": enabled, "ringBytes": ring_bytes}), retry=RETRY)

    # -- data ----------------------------------------------------------

    def send(self, id, data, all=False, timeout=None, offset=None):
        """Send: send(2), or sendall with all=True. With `offset` (TCP: where
        the write stream stands, i.e. the stream offset of data[0]) a broken
        connection is retried and bytes sockd already wrote are not written
        again. Returns Sent(bytes_sent, offset)."""
        body = {"data": _b64encode(data).decode("ascii")}
        if all:
            body["all"] = True
        if timeout is not None:
            body["timeout"] = duration(timeout)
        if offset is not None:
            body["offset"] = str(offset)
        r = self._call("POST", "/v1/sockets/%s:send" % _quote(id), body, timeout=timeout,
                       retry=RETRY if offset is not None else NO_RETRY)
        return Sent(int(r.get("bytesSent", 0)), int(r.get("offset", 0)))

    def recv(self, id, max_bytes, timeout=None, peek=False, wait_all=False, from_offset=None):
        """Recv: recv(2) on TCP, the next datagram on UDP. With `from_offset`
        (TCP) sockd keeps what it delivered until a later call moves past
        it, and a broken connection is retried for the same bytes. Returns
        Received (eof set, data empty, at the end of the stream)."""
        body = {"maxBytes": max_bytes}
        if timeout is not None:
            body["timeout"] = duration(timeout)
        if peek:
            body["peek"] = True
        if wait_all:
            body["waitAll"] = True
        if from_offset is not None:
            body["fromOffset"] = str(from_offset)
        r = self._call("POST", "/v1/sockets/%s:recv" % _quote(id), body, timeout=timeout,
                       retry=RETRY if from_offset is not None else NO_RETRY)
        return _received(r)

    def send_to(self, id, address, data, timeout=None):
        """SendTo: one datagram to "host:port". Returns the bytes sent."""
        body = {"address": address, "data": _b64encode(data).decode("ascii")}
        if timeout is not None:
            body["timeout"] = duration(timeout)
        r = self._call("POST", "/v1/sockets/%s:sendTo" % _quote(id), body, timeout=timeout)
        return int(r.get("bytesSent", 0))

    def recv_from(self, id, max_bytes, timeout=None, peek=False):
        """RecvFrom: one datagram and its source. Returns Received."""
        body = {"maxBytes": max_bytes}
        if timeout is not None:
            body["timeout"] = duration(timeout)
        if peek:
            body["peek"] = True
        r = self._call("POST", "/v1/sockets/%s:recvFrom" % _quote(id), body, timeout=timeout)
        return _received(r)

    # -- events, leases, info ------------------------------------------

    def watch_events(self, socket_id=None, label_selector=None, kinds=None, since=None):
        """WatchEvents: a Stream of events (iterate; close() to stop)."""
        q = [(k, v) for k, v in (("socketId", socket_id), ("labelSelector", label_selector),
                                 ("since", since)) if v is not None]
        q += [("kinds", k) for k in kinds or ()]
        return self.transport.stream("GET", "/v1/events" + ("?" + urllib.parse.urlencode(q) if q else ""))

    def create_lease(self, ttl):
        """CreateLease: sockets created with its id close when it lapses."""
        return self._call("POST", "/v1/leases", {"ttl": duration(ttl)})

    def keep_alive_lease(self, id):
        """KeepAliveLease: a Stream of Lease messages; the lease cannot lapse
        while it is open."""
        return self.transport.stream("POST", "/v1/leases/%s:keepAlive" % _quote(id), {})

    def revoke_lease(self, id):
        """RevokeLease: ends the lease now, closing its sockets."""
        return self._call("DELETE", "/v1/leases/" + _quote(id))

    def get_lease(self, id):
        """GetLease."""
        return self._call("GET", "/v1/leases/" + _quote(id), retry=RETRY)

    def list_leases(self, page_size=None, page_token=None):
        """ListLeases: one page, {"leases": [...], "nextPageToken": ...}."""
        q = _compact({"pageSize": page_size, "pageToken": page_token})
        return self._call("GET", "/v1/leases" + ("?" + urllib.parse.urlencode(q) if q else ""), retry=RETRY)

    def get_server_info(self):
        """GetServerInfo: version, limits, policy, features, principal."""
        return self._call("GET", "/v1/info", retry=RETRY)

    def server_info(self):
        """GetServerInfo, asked once and remembered."""
        if self._info is None:
            self._info = self.get_server_info()
        return self._info

    # -- capture and replay --------------------------------------------

    def read_capture(self, ids=(), proxy_id=None, follow=False):
        """ReadCapture: pcapng bytes. Without follow, returns them all;
        with follow, returns a Stream to read() from and close()."""
        q = [("ids", i) for i in ids]
        if proxy_id:
            q.append(("proxyId", proxy_id))
        if follow:
            q.append(("follow", "true"))
        s = self.transport.raw("GET", "/v1/capture" + ("?" + urllib.parse.urlencode(q) if q else ""))
        if follow:
            return s
        with s:
            return s.read()

    def replay(self, file, to, side="client", speed=None, max=False, stream=None, timeout=None):
        """Replay one side of a recorded conversation (file: pcap bytes)."""
        body = _compact({"file": _b64encode(file).decode("ascii"), "to": to, "side": "SIDE_" + side.upper(),
                         "speed": speed, "max": True if max else None, "stream": stream,
                         "timeout": duration(timeout)})
        return self._call("POST", "/v1/replays", body, timeout=None)
