"""A tiny loopback HTTP proxy that loses answers on purpose.

It sits between the client and sockd's REST gateway on real sockets and
passes requests through one at a time. For the requests that `cut` picks, it
forwards the request to sockd, reads sockd's whole answer (so sockd has done
the call: taken the bytes from the kernel, or written them) and then closes
both connections instead of passing the answer on: the client sees its
connection drop mid-call, as when a network or a deadline loses an answer.
With mode "request" it drops the request before sockd sees it instead.

Streams (the lease keep-alive, events, capture) are piped through untouched.
"""

import re
import socket
import threading


class CutProxy:
    def __init__(self, upstream, cut, mode="response"):
        """upstream: (host, port) of sockd's HTTP address; cut(n, method,
        path) -> bool decides for the n-th request (from 1) whether to lose
        it."""
        self.upstream = upstream
        self.cut = cut
        self.mode = mode
        self.count = 0
        self.cuts = 0
        self.paths = []
        self._lock = threading.Lock()
        self._lsock = socket.socket()
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(64)
        self.url = "http://127.0.0.1:%d" % self._lsock.getsockname()[1]
        self._conns = set()
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def close(self):
        self._closed = True
        try:
            self._lsock.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            _kill(c)

    def _accept_loop(self):
        while not self._closed:
            try:
                c, _ = self._lsock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, client):
        up = rf = uf = None
        try:
            rf = client.makefile("rb")
            while True:
                head = _read_head(rf)
                if head is None:
                    return
                m = re.match(rb"(\S+) (\S+) HTTP", head)
                method, path = m.group(1).decode(), m.group(2).decode()
                body = rf.read(_content_length(head))
                with self._lock:
                    self.count += 1
                    n = self.count
                    self.paths.append(path)
                lose = self.cut(n, method, path)
                if lose and self.mode == "request":
                    with self._lock:
                        self.cuts += 1
                    return  # sockd never sees it
                if up is None:
                    up = socket.create_connection(self.upstream)
                    with self._lock:
                        self._conns.add(up)
                    uf = up.makefile("rb")
                up.sendall(head + body)
                rhead = _read_head(uf)
                if rhead is None:
                    return
                chunked = re.search(rb"(?im)^transfer-encoding:\s*chunked", rhead)
                if chunked and _STREAMS.search(path):
                    client.sendall(rhead)
                    _pipe_rest(uf, up, client, rf)
                    return
                rbody = _read_chunked(uf) if chunked else uf.read(_content_length(rhead))
                if lose:
                    with self._lock:
                        self.cuts += 1
                    return  # sockd did the call; its answer is lost
                client.sendall(rhead + rbody)
        except (OSError, ValueError):
            return
        finally:
            for f in (rf, uf):
                if f is not None:
                    f.close()
            _kill(client)
            if up is not None:
                _kill(up)
            with self._lock:
                self._conns.discard(client)
                self._conns.discard(up)


def _read_head(f):
    lines = []
    while True:
        line = f.readline(65536)
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


# Server streams (a lease's keep-alive, events, capture): piped, never cut.
_STREAMS = re.compile(r":keepAlive$|^/v1/events|^/v1/capture")


def _read_chunked(f):
    """A chunked body as it came (sizes, data and trailer), to pass on."""
    out = []
    while True:
        line = f.readline(65536)
        if not line:
            raise ValueError("chunked body cut short")
        out.append(line)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:
                t = f.readline(65536)
                out.append(t)
                if t in (b"\r\n", b"\n", b""):
                    return b"".join(out)
        out.append(f.read(size + 2))


def _content_length(head):
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return int(m.group(1)) if m else 0


def _pipe_rest(uf, up, client, rf):
    """Copies a streamed answer to the client until either side ends."""
    def back():
        try:
            while True:
                b = uf.read1(65536)
                if not b:
                    break
                client.sendall(b)
        except OSError:
            pass
        _kill(client)

    t = threading.Thread(target=back, daemon=True)
    t.start()
    try:
        while rf.read1(65536):
            pass
    except OSError:
        pass
    _kill(up)
    t.join(5)


def _kill(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
