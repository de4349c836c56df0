"""sockd.selectors: the standard selectors module, able to wait on sockd
sockets.

Every selector class (DefaultSelector, SelectSelector, PollSelector,
EpollSelector) is SockdSelector: sockd sockets (and objects whose fileno()
is one of their pseudo descriptors, such as a socketserver server) are
waited on as sockd._ready describes; everything else goes to the standard
DefaultSelector. `python3 -m sockd run` installs this module as `selectors`.
"""

import selectors as _selectors_module
from collections.abc import Mapping as _Mapping

_real = getattr(_selectors_module, "_sockd_real", _selectors_module)
_sockd_real = _real

from . import _ready  # noqa: E402
from . import select as _sselect  # noqa: E402

EVENT_READ = _real.EVENT_READ
EVENT_WRITE = _real.EVENT_WRITE
SelectorKey = _real.SelectorKey
BaseSelector = _real.BaseSelector
_fileobj_to_fd = _real._fileobj_to_fd

__all__ = ["EVENT_READ", "EVENT_WRITE", "SelectorKey", "BaseSelector", "DefaultSelector",
           "SelectSelector", "PollSelector", "EpollSelector", "SockdSelector"]


class _Map(_Mapping):
    def __init__(self, sel):
        self._sel = sel

    def __len__(self):
        return len(self._sel._remote) + len(self._sel._local.get_map())

    def __getitem__(self, fileobj):
        s = _sselect._sockd_of(fileobj)
        if s is not None:
            return self._sel._remote[s.fileno()]
        return self._sel._local.get_map()[fileobj]

    def __iter__(self):
        yield from self._sel._remote
        yield from self._sel._local.get_map()


class SockdSelector(BaseSelector):
    """A selector over sockd sockets and local file objects together."""

    def __init__(self):
        self._local = _real.DefaultSelector()
        self._remote = {}  # pseudo fd -> SelectorKey
        self._socks = {}  # pseudo fd -> sockd socket
        self._map = _Map(self)

    def _remote_fd(self, fileobj):
        s = _sselect._sockd_of(fileobj)
        if s is None:
            return None, None
        return s.fileno(), s

    def register(self, fileobj, events, data=None):
        if (not events) or (events & ~(EVENT_READ | EVENT_WRITE)):
            raise ValueError("Invalid events: {!r}".format(events))
        fd, s = self._remote_fd(fileobj)
        if fd is None:
            return self._local.register(fileobj, events, data)
        if fd in self._remote:
            raise KeyError("{!r} (FD {}) is already registered".format(fileobj, fd))
        key = SelectorKey(fileobj, fd, events, data)
        self._remote[fd] = key
        self._socks[fd] = s
        return key

    def unregister(self, fileobj):
        fd, _ = self._remote_fd(fileobj)
        if fd is None:
            return self._local.unregister(fileobj)
        try:
            key = self._remote.pop(fd)
        except KeyError:
            raise KeyError("{!r} is not registered".format(fileobj)) from None
        self._socks.pop(fd, None)
        return key

    def modify(self, fileobj, events, data=None):
        fd, s = self._remote_fd(fileobj)
        if fd is None:
            return self._local.modify(fileobj, events, data)
        if fd not in self._remote:
            raise KeyError("{!r} is not registered".format(fileobj))
        self.unregister(fileobj)
        return self.register(fileobj, events, data)

    def select(self, timeout=None):
        if not self._remote:
            return self._local.select(timeout)
        readers = [self._socks[fd] for fd, k in self._remote.items() if k.events & EVENT_READ]
        writers = [self._socks[fd] for fd, k in self._remote.items() if k.events & EVENT_WRITE]
        local = None
        if self._local.get_map():
            def local(t):
                return self._local.select(t) or None
        if timeout is not None and timeout < 0:
            timeout = 0
        readable, writable, lres = _ready.wait(readers, writers, local, timeout)
        ready = {}
        for s in readable:
            ready[s.fileno()] = ready.get(s.fileno(), 0) | EVENT_READ
        for s in writable:
            ready[s.fileno()] = ready.get(s.fileno(), 0) | EVENT_WRITE
        out = [(self._remote[fd], ev & self._remote[fd].events) for fd, ev in ready.items() if fd in self._remote]
        return out + list(lres or [])

    def close(self):
        self._local.close()
        self._remote.clear()
        self._socks.clear()

    def get_map(self):
        return self._map


DefaultSelector = SockdSelector
SelectSelector = SockdSelector
PollSelector = SockdSelector
if hasattr(_real, "EpollSelector"):
    EpollSelector = SockdSelector
if hasattr(_real, "DevpollSelector"):
    DevpollSelector = SockdSelector
if hasattr(_real, "KqueueSelector"):
    KqueueSelector = SockdSelector
