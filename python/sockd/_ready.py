"""Waiting for sockets on sockd to become ready: the core of sockd.select and
sockd.selectors.

sockd has no poll call, so readiness is asked of each socket with a call that
waits: a listener is readable when an Accept with the wait as its timeout
returns a connection (kept for the program's next accept()), a connected
socket when a Recv with MSG_PEEK returns data or EOF (nothing is consumed).
A socket is writable unless it is listening or still connecting. Several
sockets (or sockets and local descriptors) are waited on together by one
thread per socket, each asking in slices of at most a second, so that every
thread ends soon after the wait does.
"""

import threading
import time

# The longest one readiness call waits when several things are waited on, so
# that the threads of a finished wait end soon.
SLICE = 1.0
# How often local descriptors are looked at while sockets on sockd are also
# waited on.
LOCAL_SLICE = 0.02


def wait(readers, writers, local=None, timeout=None):
    """Waits until one of `readers` is readable, one of `writers` writable
    or `local(t)` (a wait of at most t seconds on local descriptors that
    returns something true when one is ready) says so, or `timeout` seconds
    pass (None: forever; 0: just look).

    Returns (readable, writable, local_result): the sockets found ready and
    what local() returned last."""
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
    writable = [s for s in writers if s._sockd_writable()]
    if writable or (timeout is not None and timeout <= 0):
        readable = [s for s in readers if s._sockd_readable(0.0)]
        return readable, writable, local(0.0) if local else None
    if not readers:
        if local is None:
            if timeout is not None:
                time.sleep(max(timeout, 0.0))
            return [], [], None
        return [], [], _local_loop(local, deadline, None)
    if len(readers) == 1 and local is None:
        # One socket: ask it directly, for as long as the wait is.
        s = readers[0]
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        while True:
            if s._sockd_readable(left if left is None or left < 3600 else 3600):
                return [s], [], None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return [], [], None
    return _threaded(readers, local, deadline)


def _local_loop(local, deadline, done):
    while True:
        t = LOCAL_SLICE
        if deadline is not None:
            t = min(t, max(deadline - time.monotonic(), 0.0))
        got = local(t)
        if got or (done is not None and done.is_set()):
            return got
        if deadline is not None and time.monotonic() >= deadline:
            return got


def _threaded(readers, local, deadline):
    done = threading.Event()
    ready = []
    lock = threading.Lock()

    def probe(s):
        while not done.is_set():
            t = SLICE
            if deadline is not None:
                t = min(t, deadline - time.monotonic())
                if t <= 0:
                    return
            try:
                ok = s._sockd_readable(t)
            except Exception:
                ok = True  # the program's own call will raise it
            if ok:
                with lock:
                    ready.append(s)
                done.set()
                return

    threads = [threading.Thread(target=probe, args=(s,), name="sockd-select", daemon=True) for s in readers]
    for t in threads:
        t.start()
    local_result = None
    if local is not None:
        local_result = _local_loop(local, deadline, done)
        done.set()
    else:
        done.wait(None if deadline is None else max(deadline - time.monotonic(), 0.0))
        done.set()
    with lock:
        got = list(ready)
    return got, [], local_result
