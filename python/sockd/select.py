"""sockd.select: the standard select module, able to wait on sockd sockets.

select.select() and select.poll() take sockd.socket sockets (or their
fileno(), a pseudo descriptor) next to ordinary files and local sockets;
`python3 -m sockd run` installs this module as `select`. epoll, devpoll and
kqueue are the standard ones: they take local descriptors only, and refuse a
sockd socket with a clear error. How readiness is found: see sockd._ready.
"""

import errno as _errno

import select as _select_module

_real = getattr(_select_module, "_sockd_real", _select_module)
_sockd_real = _real

from . import _ready  # noqa: E402
from . import errors as _errors  # noqa: E402
from . import socket as _ssock  # noqa: E402

for _name in dir(_real):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_real, _name)
del _name

error = OSError


def _sockd_of(obj):
    """The sockd socket behind obj (a socket, an object with fileno(), or a
    pseudo descriptor), or None for a local one."""
    if isinstance(obj, _ssock.socket):
        return obj
    fd = obj
    if not isinstance(obj, int):
        fileno = getattr(obj, "fileno", None)
        if fileno is None:
            return None
        try:
            fd = fileno()
        except (OSError, ValueError):
            return None
    if _ssock.is_pseudo_fd(fd):
        s = _ssock._lookup_fd(fd)
        if s is None:
            raise OSError(_errno.EBADF, "Bad file descriptor")
        return s
    return None


def select(rlist, wlist, xlist, timeout=None):
    """select(2) over local objects and sockd sockets together."""
    if timeout is not None:
        if timeout < 0:
            raise ValueError("timeout must be non-negative")
    rlist, wlist, xlist = list(rlist), list(wlist), list(xlist)
    rr, rw, lr, lw, lx = [], [], [], [], []
    for src, remote, local in ((rlist, rr, lr), (wlist, rw, lw), (xlist, None, lx)):
        for obj in src:
            s = _sockd_of(obj)
            if s is None:
                local.append(obj)
            elif remote is not None:
                remote.append((s, obj))
    if not rr and not rw:
        return _real.select(lr, lw, lx, timeout)
    local = None
    if lr or lw or lx:
        def local(t):
            got = _real.select(lr, lw, lx, t)
            return got if any(got) else None
    readers = [s for s, _ in rr]
    writers = [s for s, _ in rw]
    readable, writable, lres = _ready.wait(readers, writers, local, timeout)
    out_r = [obj for s, obj in rr if s in readable]
    out_w = [obj for s, obj in rw if s in writable]
    if lres:
        out_r += lres[0]
        out_w += lres[1]
        return out_r, out_w, list(lres[2])
    return out_r, out_w, []


class poll:
    """select.poll over local descriptors and sockd sockets."""

    def __init__(self):
        self._local = _real.poll()
        self._n_local = 0
        self._remote = {}  # pseudo fd -> (socket, eventmask)

    def register(self, fd, eventmask=None):
        if eventmask is None:
            eventmask = _real.POLLIN | _real.POLLPRI | _real.POLLOUT
        s = _sockd_of(fd)
        if s is not None:
            self._remote[s.fileno()] = (s, eventmask)
            return
        if not isinstance(fd, int):
            fd = fd.fileno()
        self._local.register(fd, eventmask)
        self._n_local += 1

    def modify(self, fd, eventmask):
        s = _sockd_of(fd)
        if s is not None:
            if s.fileno() not in self._remote:
                raise FileNotFoundError(_errno.ENOENT, "No such file or directory")
            self._remote[s.fileno()] = (s, eventmask)
            return
        self._local.modify(fd, eventmask)

    def unregister(self, fd):
        s = _sockd_of(fd)
        if s is not None:
            del self._remote[s.fileno()]
            return
        self._local.unregister(fd)
        self._n_local -= 1

    def poll(self, timeout=None):
        t = None if timeout is None or timeout < 0 else timeout / 1000.0
        if not self._remote:
            return self._local.poll(timeout)
        readers = [s for s, m in self._remote.values() if m & (_real.POLLIN | _real.POLLPRI)]
        writers = [s for s, m in self._remote.values() if m & _real.POLLOUT]
        local = None
        if self._n_local:
            def local(secs):
                return self._local.poll(secs * 1000.0) or None
        readable, writable, lres = _ready.wait(readers, writers, local, t)
        out = {}
        for s in readable:
            out[s.fileno()] = out.get(s.fileno(), 0) | _real.POLLIN
        for s in writable:
            out[s.fileno()] = out.get(s.fileno(), 0) | _real.POLLOUT
        return list(out.items()) + list(lres or [])


def _refusing(real_cls):
    """A wrapper of epoll/devpoll that refuses sockd sockets clearly (they
    have no local descriptor to give the kernel)."""

    class Refusing:
        def __init__(self, *args, **kw):
            self._obj = real_cls(*args, **kw)

        def register(self, fd, *args, **kw):
            if _sockd_of(fd) is not None:
                raise _errors.not_remote(
                    _errno.EBADF, "%s takes local descriptors only: use select.select, select.poll or "
                    "selectors for sockd sockets" % real_cls.__name__)
            return self._obj.register(fd, *args, **kw)

        def modify(self, fd, *args, **kw):
            if _sockd_of(fd) is not None:
                raise _errors.not_remote(_errno.EBADF, "%s takes local descriptors only" % real_cls.__name__)
            return self._obj.modify(fd, *args, **kw)

        def __getattr__(self, name):
            return getattr(self._obj, name)

        def __enter__(self):
            self._obj.__enter__()
            return self

        def __exit__(self, *exc):
            return self._obj.__exit__(*exc)

    Refusing.__name__ = Refusing.__qualname__ = real_cls.__name__
    return Refusing


if hasattr(_real, "epoll"):
    epoll = _refusing(_real.epoll)
if hasattr(_real, "devpoll"):
    devpoll = _refusing(_real.devpoll)
