"""sockd.socket: the standard socket module, with the sockets on sockd.

    from sockd import socket
    with socket.create_server(("127.0.0.1", 8090)) as srv:
        conn, addr = srv.accept()
        ...

Everything the standard module offers for TCP and UDP over IPv4 and IPv6 is
here under the same names and with the same behaviour: socket objects,
create_connection, create_server, getaddrinfo, the constants, timeouts
(socket.timeout) and non-blocking sockets (BlockingIOError), makefile, and
errors as the standard OSError subclasses with the kernel's errno. The
sockets are real kernel sockets on sockd's host (SOCKD_URL, SOCKD_TOKEN):
addresses and host names mean what they mean there.

What a remote socket cannot be, it says: AF_UNIX and raw sockets, a local
descriptor (fileno() is a pseudo descriptor that only sockd.select and
sockd.selectors understand), ancillary data, fd passing. See docs/python.md.

Every socket lives under the process's lease (sockd.lease): they are closed
when the program exits, and within SOCKD_LEASE_TTL when it crashes.
"""

import builtins as _builtins
import errno as _errno
import io as _io
import itertools as _itertools
import os as _os
import queue as _queue
import struct as _struct
import sys as _sys
import threading as _threading
import time as _time
import warnings as _warnings
import weakref as _weakref

import socket as _socket_module

# The standard module, also when this one has replaced it in sys.modules.
_std = getattr(_socket_module, "_sockd_std", _socket_module)
_sockd_std = _std  # for modules imported while `socket` is this module
__sockd__ = True

from . import client as _client_mod  # noqa: E402
from . import errors as _errors  # noqa: E402
from . import lease as _lease  # noqa: E402

# -- names of the standard module ------------------------------------------

# The constants, enums, exceptions and helpers that do not touch a socket are
# the standard module's own objects (so `except socket.timeout` and
# `family == socket.AF_INET` mean the same with either module).
_SAME = (
    "AddressFamily", "SocketKind", "MsgFlag", "AddressInfo", "error", "herror", "gaierror",
    "timeout", "has_ipv6", "inet_aton", "inet_ntoa", "inet_pton", "inet_ntop", "htons",
    "htonl", "ntohs", "ntohl", "getservbyname", "getservbyport", "getprotobyname",
    "gethostname", "sethostname", "getfqdn", "gethostbyaddr", "getnameinfo", "if_nameindex",
    "if_nametoindex", "if_indextoname", "CMSG_LEN", "CMSG_SPACE", "SocketIO", "CAPI",
)
for _name in dir(_std):
    if (_name.isupper() and not _name.startswith("_")) or _name in _SAME:
        globals()[_name] = getattr(_std, _name)
del _name

AF_INET, AF_INET6 = _std.AF_INET, _std.AF_INET6
SOCK_STREAM, SOCK_DGRAM = _std.SOCK_STREAM, _std.SOCK_DGRAM
timeout = _std.timeout
error = OSError
gaierror = _std.gaierror
_GLOBAL_DEFAULT_TIMEOUT = getattr(_std, "_GLOBAL_DEFAULT_TIMEOUT", object())
_LOCALHOST = "127.0.0.1"
_LOCALHOST_V6 = "::1"
_SOCK_NONBLOCK = getattr(_std, "SOCK_NONBLOCK", 0)
_SOCK_CLOEXEC = getattr(_std, "SOCK_CLOEXEC", 0)
_MSG_PEEK = _std.MSG_PEEK
_MSG_WAITALL = getattr(_std, "MSG_WAITALL", 0)
_MSG_DONTWAIT = getattr(_std, "MSG_DONTWAIT", 0)
_MSG_NOSIGNAL = getattr(_std, "MSG_NOSIGNAL", 0)
_blocking_errnos = {_errno.EAGAIN, _errno.EWOULDBLOCK}

__all__ = [n for n in getattr(_std, "__all__", ()) if n in globals()] + [
    "socket", "SocketType", "create_connection", "create_server", "has_dualstack_ipv6",
    "getaddrinfo", "gethostbyname", "gethostbyname_ex", "socketpair", "fromfd", "dup",
    "getdefaulttimeout", "setdefaulttimeout", "configure",
]

# -- the client and lease of this process ----------------------------------

_setup_lock = _threading.Lock()
_client = None
_process_lease = None
_limits = None


def configure(url=None, token=None, lease_ttl=None, client=None):
    """Points the module at a sockd (default: SOCKD_URL, SOCKD_TOKEN) and
    sets the process lease's TTL (default: SOCKD_LEASE_TTL, else 10s).
    Call before making sockets; existing sockets keep their sockd."""
    global _client, _process_lease, _limits
    with _setup_lock:
        _client = client or _client_mod.Client(url, token)
        _process_lease = _lease.ProcessLease(_client, lease_ttl)
        _lease.register(_process_lease)
        _limits = None


def _get_client():
    if _client is None:
        with _setup_lock:
            if _client is None:
                c = _client_mod.Client()
                globals()["_process_lease"] = _lease.ProcessLease(c)
                _lease.register(_process_lease)
                globals()["_client"] = c
    return _client


class _Limits:
    """What the server says a client must respect (GetServerInfo), and
    whether it has stream offsets (retain_bytes > 0)."""

    def __init__(self, info):
        lim = (info or {}).get("limits", {})
        self.max_call = int(lim.get("maxCallBytes", 0) or (4 << 20))
        self.retain = int(lim.get("retainBytes", 0) or 0)
        self.offsets = self.retain > 0


def _get_limits():
    global _limits
    if _limits is None:
        try:
            info = _get_client().server_info()
        except _errors.SockdError as e:
            if e.code not in (5, 12):  # an older sockd without GetServerInfo
                raise
            info = None
        _limits = _Limits(info)
    return _limits


# -- default timeout -------------------------------------------------------

_default_timeout = _std.getdefaulttimeout()


def getdefaulttimeout():
    """The timeout new sockets get (None: blocking)."""
    return _default_timeout


def setdefaulttimeout(value):
    """Sets the timeout new sockets get."""
    global _default_timeout
    _default_timeout = _check_timeout(value)


def _check_timeout(value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError("Timeout value must be int, float or None")
    if value != value:
        raise ValueError("Invalid value NaN (not a number)")
    if value < 0:
        raise ValueError("Timeout value out of range")
    return value


# -- descriptors -------------------------------------------------------------

# A socket's fileno() is a pseudo descriptor: no real descriptor is ever this
# large (Linux caps them below 2**30), so one is never mistaken for the
# other; sockd.select and sockd.selectors map them back to their sockets.
_FD_BASE = 1 << 30
_fd_counter = _itertools.count(_FD_BASE)
_handles = _weakref.WeakValueDictionary()  # pseudo fd -> socket
_detached = {}  # pseudo fd -> _Remote, after detach()


def _lookup_fd(fd):
    """The socket behind a pseudo descriptor, or None."""
    return _handles.get(fd)


def is_pseudo_fd(fd):
    return isinstance(fd, int) and fd >= _FD_BASE


# -- closing in the background -----------------------------------------------

_closer_queue = None


def _close_later(remote):
    """Closes a remote socket from a background thread (for sockets that
    were garbage collected unclosed: no HTTP call in a finalizer). At exit
    nothing is done: revoking the process lease closes them all."""
    global _closer_queue
    if _sys.is_finalizing() or _lease.exiting:
        return
    if _closer_queue is None:
        with _setup_lock:
            if _closer_queue is None:
                q = _queue.Queue()
                _threading.Thread(target=_closer, args=(q,), name="sockd-closer", daemon=True).start()
                _closer_queue = q
    _closer_queue.put(remote)


def _closer(q):
    while True:
        remote = q.get()
        try:
            remote.close()
        except Exception:
            pass


# -- fork --------------------------------------------------------------------


def _before_fork():
    for h in list(_handles.values()):
        if h._r is not None:
            h._r.forked = True
    for r in _detached.values():
        r.forked = True


def _after_fork_in_child():
    global _setup_lock, _closer_queue
    _setup_lock = _threading.Lock()
    _closer_queue = None  # the closer thread stayed in the parent
    for h in list(_handles.values()):
        h._create_lock = _threading.Lock()
        if h._r is not None:
            h._r.recv_lock = _threading.Lock()
            h._r.send_lock = _threading.Lock()


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


# -- addresses ---------------------------------------------------------------


def _host_text(host, op):
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("idna")
    if not isinstance(host, str):
        raise TypeError("%s(): str, bytes or bytearray expected, not %s" % (op, type(host).__name__))
    return host


def _looks_numeric(host):
    return host != "" and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit()


def _to_sockd(family, address, op):
    """A Python socket address as sockd's "host:port"."""
    if family == AF_INET:
        if not isinstance(address, tuple):
            raise TypeError("%s(): AF_INET address must be tuple, not %s" % (op, type(address).__name__))
        if len(address) != 2:
            raise TypeError("AF_INET address must be a pair (host, port)")
        host, port = address
        host = _host_text(host, op)
        port = _check_port(port, op)
        if host == "":
            return ":%d" % port
        if host == "<broadcast>":
            return "255.255.255.255:%d" % port
        if ":" in host:
            raise _gai(_std.EAI_ADDRFAMILY if hasattr(_std, "EAI_ADDRFAMILY") else _std.EAI_FAMILY,
                       "Address family for hostname not supported")
        if _looks_numeric(host):
            try:
                host = _std.inet_ntoa(_std.inet_aton(host))
            except OSError:
                raise _gai(_std.EAI_NONAME, "Name or service not known")
        return "%s:%d" % (host, port)
    if family == AF_INET6:
        if not isinstance(address, tuple):
            raise TypeError("%s(): AF_INET6 address must be tuple, not %s" % (op, type(address).__name__))
        if not 2 <= len(address) <= 4:
            raise TypeError("AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]])")
        host, port = address[0], address[1]
        flowinfo = address[2] if len(address) > 2 else 0
        scope_id = address[3] if len(address) > 3 else 0
        host = _host_text(host, op)
        port = _check_port(port, op)
        if not 0 <= flowinfo <= 0xFFFFF:
            raise OverflowError("%s(): flowinfo must be 0-1048575." % op)
        if "%" in host or scope_id:
            raise _errors.not_remote(_errno.EINVAL, "sockd does not take IPv6 scope ids (zones): %r" % (address,))
        if host == "":
            return ":%d" % port
        if ":" in host:
            try:
                host = _std.inet_ntop(AF_INET6, _std.inet_pton(AF_INET6, host))
            except OSError:
                raise _gai(_std.EAI_NONAME, "Name or service not known")
            return "[%s]:%d" % (host, port)
        if _looks_numeric(host):
            raise _gai(_std.EAI_ADDRFAMILY if hasattr(_std, "EAI_ADDRFAMILY") else _std.EAI_FAMILY,
                       "Address family for hostname not supported")
        return "%s:%d" % (host, port)
    raise _errors.not_remote(_errno.EAFNOSUPPORT, "sockd sockets are AF_INET or AF_INET6")


def _check_port(port, op):
    if not isinstance(port, int) or isinstance(port, bool):
        try:
            port = port.__index__()
        except AttributeError:
            raise _not_int(port)
    if not 0 <= port <= 65535:
        raise OverflowError("%s(): port must be 0-65535." % op)
    return port


def _from_sockd(family, text):
    """sockd's "host:port" as a Python socket address."""
    host, port = _client_mod.parse_address(text)
    if family == AF_INET6:
        return (host or "::", port, 0, 0)
    return (host or "0.0.0.0", port)


def _gai(num, msg):
    return gaierror(num, msg)


# -- socket options ------------------------------------------------------------

_SOL_SOCKET, _IPPROTO_TCP = _std.SOL_SOCKET, _std.IPPROTO_TCP
_IPPROTO_IP, _IPPROTO_IPV6 = _std.IPPROTO_IP, _std.IPPROTO_IPV6
_OPTIONS = {}  # (level, optname) -> sockd's option name
for _level, _names in ((_SOL_SOCKET, ("SO_REUSEADDR", "SO_REUSEPORT", "SO_KEEPALIVE", "SO_BROADCAST",
                                      "SO_RCVBUF", "SO_SNDBUF", "SO_LINGER", "SO_ERROR", "SO_TYPE",
                                      "SO_ACCEPTCONN")),
                       (_IPPROTO_TCP, ("TCP_NODELAY", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT")),
                       (_IPPROTO_IP, ("IP_TTL", "IP_TOS")),
                       (_IPPROTO_IPV6, ("IPV6_V6ONLY", "IPV6_UNICAST_HOPS", "IPV6_TCLASS"))):
    for _n in _names:
        if hasattr(_std, _n):
            _OPTIONS[(_level, getattr(_std, _n))] = _n
del _level, _names, _n
_READ_ONLY = {"SO_ERROR", "SO_TYPE", "SO_ACCEPTCONN"}
_LINGER = _struct.Struct("ii")
_INT = _struct.Struct("i")


def _option_name(level, optname, family=None, type=None, setting=True):
    """sockd's name of an option, refusing as Linux does the options of
    another protocol (IPV6_* on IPv4, TCP_* on UDP): ENOPROTOOPT to set,
    EOPNOTSUPP to get."""
    name = _OPTIONS.get((level, optname))
    if name is None:
        raise OSError(_errno.ENOPROTOOPT, _os.strerror(_errno.ENOPROTOOPT))
    if (level == _IPPROTO_IPV6 and family == AF_INET) or (level == _IPPROTO_TCP and type == SOCK_DGRAM):
        num = _errno.ENOPROTOOPT if setting else _errno.EOPNOTSUPP
        raise OSError(num, _os.strerror(num))
    return name


# -- the remote socket ---------------------------------------------------------


class _Remote:
    """One socket on sockd, shared by the socket objects that refer to it
    (dup, socket(fileno=...)): its id, what is known of its state, and the
    stream offsets of both directions."""

    def __init__(self, client, info, family, type):
        self.client = client
        self.id = info["id"]
        self.family = family
        self.type = type
        self.stream = type == SOCK_STREAM
        self.refs = 1
        self.closed = False
        self.recv_off = 0  # bytes of the stream we have received
        self.send_off = 0  # bytes of the stream sockd has written for us
        self.send_synced = True  # send_off is known (false after an unclear send error)
        self.recv_lock = _threading.Lock()
        self.send_lock = _threading.Lock()
        self.pending = []  # connections accepted by a select probe, for accept()
        self.connecting = False
        self.pid = _os.getpid()  # the process that made it
        self.forked = False  # a child process was forked while it was open
        self.update(info)

    def update(self, info):
        if not info:
            return
        self.state = info.get("state", "")
        self.local = info.get("localAddress", "")
        self.peer = info.get("remoteAddress", "")
        if info.get("connecting"):
            self.connecting = True
        elif self.state == "STATE_CONNECTED":
            self.connecting = False

    def refresh(self):
        self.update(self.client.get_socket(self.id))

    def close(self):
        if self.closed:
            return
        self.closed = True
        for info in self.pending:
            if isinstance(info, dict):
                try:
                    self.client.close_socket(info["id"])
                except OSError:
                    pass
        self.pending = []
        try:
            self.client.close_socket(self.id)
        except _errors.SockdError as e:
            if e.reason != "SOCKET_NOT_FOUND":
                raise


def _ebadf():
    return OSError(_errno.EBADF, _os.strerror(_errno.EBADF))


def _oserror(num):
    return OSError(num, _os.strerror(num))


class socket:
    """A TCP or UDP socket on sockd, with the standard socket's methods.

    socket(family=AF_INET, type=SOCK_STREAM, proto=0, fileno=None). The
    remote socket is made at the first call that needs it (bind, connect,
    listen, getsockopt, ...), with the options set before it, in one call."""

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        self._r = None
        self._fd = -1
        if fileno is not None:
            self._adopt(fileno, family, type, proto)
            self._timeout = _default_timeout
            return
        if family == -1 or family is None:
            family = AF_INET
        if type == -1 or type is None:
            type = SOCK_STREAM
        if proto == -1 or proto is None:
            proto = 0
        nonblock = bool(_SOCK_NONBLOCK and type & _SOCK_NONBLOCK)
        type &= ~(_SOCK_NONBLOCK | _SOCK_CLOEXEC)
        if family not in (AF_INET, AF_INET6):
            raise _errors.not_remote(
                _errno.EAFNOSUPPORT,
                "sockd holds TCP and UDP sockets over AF_INET and AF_INET6; %s cannot be remote" % _family_name(family))
        if type not in (SOCK_STREAM, SOCK_DGRAM):
            raise _errors.not_remote(
                _errno.ESOCKTNOSUPPORT,
                "sockd holds SOCK_STREAM and SOCK_DGRAM sockets; %s cannot be remote" % _type_name(type))
        if proto not in (0, _std.IPPROTO_TCP if type == SOCK_STREAM else _std.IPPROTO_UDP):
            raise OSError(_errno.EPROTONOSUPPORT, _os.strerror(_errno.EPROTONOSUPPORT))
        self._family = _std.AddressFamily(family)
        self._type = _std.SocketKind(type)
        self._proto = proto
        self._timeout = 0.0 if nonblock else _default_timeout
        self._options = []  # (name, value) to set when the remote socket is made
        self._closed = False
        self._io_refs = 0
        self._create_lock = _threading.Lock()
        self._fd = next(_fd_counter)
        _handles[self._fd] = self

    def _adopt(self, fileno, family, type, proto):
        """socket(fileno=fd): only this module's pseudo descriptors name a
        socket on sockd; the socket keeps that descriptor number."""
        if isinstance(fileno, float):
            raise _not_int(fileno)
        if not isinstance(fileno, int):
            raise _not_int(fileno)
        if fileno < 0:
            raise ValueError("negative file descriptor")
        remote = _detached.pop(fileno, None)
        if remote is None:
            other = _handles.get(fileno)
            if other is None:
                if not is_pseudo_fd(fileno):
                    _check_local_fd(fileno)
                raise _errors.not_remote(
                    _errno.EBADF, "fd %r is not a socket on sockd" % (fileno,))
            remote = other._remote_or_create()  # shared as the same descriptor is: no new reference
        self._r = remote
        self._family = _intenum(remote.family if family in (-1, None) else family, _std.AddressFamily)
        self._type = _intenum(remote.type if type in (-1, None) else type, _std.SocketKind)
        self._proto = 0 if proto in (-1, None) else proto
        self._options = []
        self._closed = False
        self._io_refs = 0
        self._create_lock = _threading.Lock()
        self._fd = fileno
        _handles[self._fd] = self

    # -- attributes --------------------------------------------------------

    @property
    def family(self):
        return self._family

    @property
    def type(self):
        return self._type

    @property
    def proto(self):
        return self._proto

    @property
    def timeout(self):
        return self._timeout

    @property
    def sockd_id(self):
        """The socket's id on sockd (None until the remote socket is made)."""
        return self._r.id if self._r is not None else None

    def fileno(self):
        """A pseudo descriptor (-1 once closed): it names this socket to
        sockd.select and sockd.selectors, but it is no local descriptor: the
        real select, poll and os calls reject it (EBADF). The descriptor on
        sockd's host is remote_fileno()."""
        return self._fd

    def remote_fileno(self):
        """The kernel descriptor in the sockd daemon (Socket.fd)."""
        r = self._remote_or_create()
        return int(r.client.get_socket(r.id).get("fd", -1))

    def __repr__(self):
        closed = self._fd == -1
        s = "<%s.%s%s fd=%i, family=%s, type=%s, proto=%i" % (
            self.__class__.__module__, self.__class__.__qualname__, " [closed]" if closed else "",
            self._fd, self._family, self._type, self._proto)
        r = self._r
        if not closed and r is not None:
            s += ", id=%s" % r.id
            if r.local:
                s += ", laddr=%s" % (_from_sockd(self._family, r.local),)
            if r.peer:
                s += ", raddr=%s" % (_from_sockd(self._family, r.peer),)
        elif not closed:
            s += ", laddr=%s" % (self.getsockname(),)
        return s + ">"

    def __getstate__(self):
        raise TypeError("cannot pickle %r object" % self.__class__.__name__)

    def __enter__(self):
        return self

    def __exit__(self, *args):
        if not self._closed:
            self.close()

    def __del__(self):
        if getattr(self, "_fd", -1) != -1:
            try:
                _warnings.warn("unclosed %r" % self, ResourceWarning, source=self)
            except Exception:
                pass
            r, self._r = getattr(self, "_r", None), None
            if _handles.get(self._fd) is self:
                _handles.pop(self._fd, None)
            self._fd = -1
            if r is None:
                return
            r.refs -= 1
            if r.refs <= 0 and not r.closed:
                try:
                    _close_later(r)
                except Exception:
                    pass

    # -- the remote socket -------------------------------------------------

    def _check_open(self):
        if self._fd == -1 or (self._r is not None and self._r.closed):
            raise _ebadf()

    def _remote(self):
        """The remote socket, or None before it is made (raises EBADF once
        closed, or once closed under this object: socket.close(fd), another
        object on the same descriptor)."""
        r = self._r
        if self._fd == -1 or (r is not None and r.closed):
            raise _ebadf()
        return r

    def _remote_or_create(self, **steps):
        """The remote socket, made now (with `steps`: bind_address,
        connect_address, backlog...) if it does not exist yet."""
        r = self._remote()
        if r is not None:
            return r
        with self._create_lock:
            if self._r is None:
                self._r = self._create(**steps)
            return self._r

    def _create(self, **steps):
        c = _get_client()
        info = c.create_socket(
            protocol="tcp" if self._type == SOCK_STREAM else "udp",
            family="ipv6" if self._family == AF_INET6 else "ipv4",
            options=self._options or None,
            lease_id=_process_lease.id(),
            **steps)
        self._options = []
        return _Remote(c, info, int(self._family), int(self._type))

    def _wait(self, flags=0):
        """The timeout of one call: the socket's, or 0 for MSG_DONTWAIT."""
        if flags & _MSG_DONTWAIT:
            return 0.0
        return self._timeout

    # -- timeouts ----------------------------------------------------------

    def settimeout(self, value):
        """None blocks, 0 is non-blocking, else each call waits at most that
        many seconds and raises socket.timeout. Each call carries its own
        timeout to sockd, so this makes no call."""
        value = _check_timeout(value)
        self._check_open()
        self._timeout = value

    def gettimeout(self):
        return self._timeout

    def setblocking(self, flag):
        self._check_open()
        self._timeout = None if flag else 0.0

    def getblocking(self):
        return self._timeout != 0.0

    # -- setting up ----------------------------------------------------------

    def bind(self, address):
        addr = _to_sockd(self._family, address, "bind")
        r = self._remote()
        if r is None:
            with self._create_lock:
                if self._r is None:
                    self._r = self._create(bind_address=addr)
                    return
            r = self._r
        r.update(r.client.bind(r.id, addr))

    def listen(self, backlog=None):
        if self._type != SOCK_STREAM:
            self._check_open()
            raise _oserror(_errno.EOPNOTSUPP)
        if backlog is not None:
            backlog = max(_c_int(backlog), 0)
        r = self._remote_or_create()
        r.update(r.client.listen(r.id, backlog))

    def _accept_info(self):
        r = self._remote()
        if self._type != SOCK_STREAM:
            raise _oserror(_errno.EOPNOTSUPP)
        if r is None:
            raise _oserror(_errno.EINVAL)
        if r.pending:
            got = r.pending.pop(0)
            if isinstance(got, BaseException):
                raise got
            return r, got
        wait = self._timeout
        while True:
            try:
                return r, r.client.accept(r.id, timeout=wait)
            except _errors.SockdError as e:
                if wait is None and e.reason == "TIMEOUT":
                    continue  # sockd's REST call limit, not ours: keep blocking
                raise

    def _accept(self):
        r, info = self._accept_info()
        conn = socket.__new__(socket)
        conn._family, conn._type, conn._proto = self._family, self._type, self._proto
        conn._timeout = _default_timeout
        conn._options, conn._closed, conn._io_refs = [], False, 0
        conn._create_lock = _threading.Lock()
        conn._r = _Remote(r.client, info, r.family, r.type)
        conn._fd = next(_fd_counter)
        _handles[conn._fd] = conn
        return conn, _from_sockd(self._family, info.get("remoteAddress", ""))

    def accept(self):
        """Waits for a connection: returns (socket, address)."""
        conn, addr = self._accept()
        if getdefaulttimeout() is None and self.gettimeout():
            conn.setblocking(True)
        return conn, addr

    def connect(self, address):
        addr = _to_sockd(self._family, address, "connect")
        r = self._remote()
        wait = self._timeout
        if r is None and wait != 0.0:
            with self._create_lock:
                if self._r is None:
                    # socket + connect in one call; a failure leaves nothing
                    # on sockd, and the next connect makes a new socket, as
                    # a failed connect(2) leaves the socket unconnected.
                    while True:
                        try:
                            self._r = self._create(connect_address=addr, connect_timeout=wait)
                            return
                        except _errors.SockdError as e:
                            if wait is None and e.reason == "TIMEOUT":
                                continue
                            raise
            r = self._r
        if r is None:
            r = self._remote_or_create()
        while True:
            try:
                r.update(r.client.connect(r.id, addr, timeout=wait))
                r.connecting = False
                return
            except _errors.SockdError as e:
                if e.errno in (_errno.EINPROGRESS, _errno.EALREADY) or e.reason == "TIMEOUT":
                    r.connecting = True  # the connect goes on in sockd's kernel
                    if wait is None and e.reason == "TIMEOUT":
                        continue  # sockd's REST call limit, not ours
                raise

    def connect_ex(self, address):
        """connect, returning the errno instead of raising (0 on success)."""
        try:
            self.connect(address)
        except timeout:
            return _errno.EAGAIN
        except gaierror:
            raise
        except OSError as e:
            if e.errno is None:
                raise
            return e.errno
        return 0

    # -- data ----------------------------------------------------------------

    def recv(self, bufsize, flags=0):
        """Up to bufsize bytes, as soon as any are there; b"" at EOF."""
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        r = self._remote()
        if r is None:
            if self._type == SOCK_STREAM:
                raise _oserror(_errno.ENOTCONN)
            return self._recv_unbound()
        if bufsize == 0:
            return b""
        return self._recv(r, bufsize, flags)[0]

    def _recv_unbound(self, with_flags=False):
        # A UDP socket that was never bound receives nothing: wait as the
        # kernel would, then say so.
        wait = self._timeout
        if wait == 0.0:
            raise BlockingIOError(_errno.EAGAIN, _os.strerror(_errno.EAGAIN))
        if wait is not None:
            _time.sleep(wait)
            raise timeout("timed out")
        raise _errors.not_remote(_errno.EINVAL, "this UDP socket is not bound: it would wait forever (bind it first)")

    def _recv(self, r, bufsize, flags, want_address=False):
        """One receive: (data, address, truncated)."""
        peek = bool(flags & _MSG_PEEK)
        wait_all = bool(flags & _MSG_WAITALL)
        _check_flags(flags, _MSG_PEEK | _MSG_WAITALL | _MSG_DONTWAIT)
        wait = self._wait(flags)
        lim = _get_limits()
        n = min(bufsize, lim.max_call)
        c = r.client
        if not r.stream:
            while True:
                try:
                    if want_address:
                        got = c.recv_from(r.id, n, timeout=wait, peek=peek)
                    else:
                        got = c.recv(r.id, n, timeout=wait, peek=peek)
                    return got.data, got.address, got.truncated
                except _errors.SockdError as e:
                    if not (wait is None and e.reason == "TIMEOUT"):
                        raise
        if lim.offsets:
            n = min(n, lim.retain)
        with r.recv_lock:
            while True:
                start = r.recv_off if lim.offsets else None
                try:
                    got = c.recv(r.id, n, timeout=wait, peek=peek, wait_all=wait_all, from_offset=start)
                except _errors.SockdError as e:
                    if wait is None and e.reason == "TIMEOUT":
                        continue
                    raise
                data = got.data
                if start is not None and data:
                    if got.offset < start:
                        data = data[start - got.offset:]  # bytes we had already
                    elif got.offset > start:
                        raise _errors.make_error(
                            "OFFSET_UNAVAILABLE",
                            "sockd answered from offset %d, this socket is at %d: bytes were lost" % (got.offset, start),
                            {"socketId": r.id})
                    if not data and not got.eof:
                        continue
                if not peek:
                    r.recv_off += len(data)
                return data, None, False

    def recv_into(self, buffer, nbytes=0, flags=0):
        """recv into a writable buffer; returns the number of bytes."""
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        view = memoryview(buffer).cast("B")
        if nbytes == 0:
            nbytes = len(view)
        elif nbytes > len(view):
            raise ValueError("buffer too small for requested bytes")
        data = self.recv(nbytes, flags)
        view[:len(data)] = data
        return len(data)

    def recvfrom(self, bufsize, flags=0):
        """(data, address): for UDP the datagram's source, for TCP None."""
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        r = self._remote()
        if r is None:
            if self._type == SOCK_STREAM:
                raise _oserror(_errno.ENOTCONN)
            return self._recv_unbound()
        data, addr, _ = self._recvfrom(r, bufsize, flags)
        return data, addr

    def _recvfrom(self, r, bufsize, flags):
        """(data, address, truncated) of one receive."""
        if self._type == SOCK_STREAM:
            return (self._recv(r, bufsize, flags)[0] if bufsize else b""), None, False
        data, addr, truncated = self._recv(r, max(bufsize, 1), flags, want_address=True)
        if bufsize == 0:
            data, truncated = b"", bool(data) or truncated
        return data, (_from_sockd(self._family, addr) if addr else None), truncated

    def recvfrom_into(self, buffer, nbytes=0, flags=0):
        """recvfrom into a writable buffer: (nbytes, address)."""
        if nbytes < 0:
            raise ValueError("negative buffersize in recvfrom_into")
        view = memoryview(buffer).cast("B")
        if nbytes == 0:
            nbytes = len(view)
        elif nbytes > len(view):
            raise ValueError("nbytes is greater than the length of the buffer")
        data, addr = self.recvfrom(nbytes, flags)
        view[:len(data)] = data
        return len(data), addr

    def send(self, data, flags=0):
        """Sends what the kernel takes of data now; returns how much."""
        data = _bytes(data)
        _check_flags(flags, _MSG_DONTWAIT | _MSG_NOSIGNAL)
        r = self._remote()
        if r is None:
            if self._type == SOCK_STREAM:
                raise _oserror(_errno.EPIPE)
            raise _oserror(_errno.EDESTADDRREQ)
        lim = _get_limits()
        return self._send(r, data[:lim.max_call], False, self._wait(flags), lim)

    def _send(self, r, data, all, wait, lim):
        c = r.client
        if not r.stream:
            return c.send(r.id, data, timeout=wait).bytes_sent
        with r.send_lock:
            # After a send whose outcome is unclear (sockd may still be
            # writing it), the next send goes without an offset: it waits its
            # turn behind the unclear one, and its answer says where the
            # stream stands (an offset learnt any other way could skip new
            # bytes as if they were old).
            offset = r.send_off if lim.offsets and r.send_synced else None
            try:
                got = c.send(r.id, data, all=all, timeout=wait, offset=offset)
            except _errors.SockdError as e:
                if e.code == 4 and offset is not None:
                    r.send_off += e.bytes_sent  # a timeout: metadata says what went out
                else:
                    r.send_synced = False
                raise
            except BaseException:
                r.send_synced = False  # interrupted: sockd may have written some
                raise
            if lim.offsets:
                r.send_off = got.offset
                r.send_synced = True
            else:
                r.send_off += got.bytes_sent
            return got.bytes_sent

    def sendall(self, data, flags=0):
        """Sends all of data, or raises (socket.timeout once the socket's
        timeout has passed for the whole call)."""
        data = _bytes(data)
        _check_flags(flags, _MSG_DONTWAIT | _MSG_NOSIGNAL)
        r = self._remote()
        if r is None:
            if self._type == SOCK_STREAM:
                raise _oserror(_errno.EPIPE)
            raise _oserror(_errno.EDESTADDRREQ)
        lim = _get_limits()
        wait = self._wait(flags)
        if not r.stream:
            self._send(r, data, True, wait, lim)
            return None
        deadline = None if wait is None else _time.monotonic() + wait
        view = memoryview(data)
        pos = 0
        while True:
            left = None if deadline is None else max(deadline - _time.monotonic(), 0.0)
            if wait and left == 0.0:
                raise timeout("timed out")
            pos += self._send(r, bytes(view[pos:pos + lim.max_call]), True, wait if wait == 0.0 else left, lim)
            if pos >= len(data):
                return None

    def sendto(self, *args):
        """Sends a datagram to an address: sendto(data[, flags], address)."""
        if len(args) == 2:
            data, address = args
            flags = 0
        elif len(args) == 3:
            data, flags, address = args
            if not isinstance(flags, int):
                raise _not_int(flags)
        else:
            raise TypeError("sendto() takes 2 or 3 arguments (%d given)" % len(args))
        data = _bytes(data)
        _check_flags(flags, _MSG_DONTWAIT | _MSG_NOSIGNAL)
        if not isinstance(address, tuple):
            raise TypeError("sendto(): AF_INET%s address must be tuple, not %s" % (
                "6" if self._family == AF_INET6 else "", address.__class__.__name__))
        addr = _to_sockd(self._family, address, "sendto")
        if self._type == SOCK_STREAM:
            r = self._remote()
            if r is None:
                raise _oserror(_errno.EPIPE)
            return self._send(r, data, False, self._wait(flags), _get_limits())
        r = self._remote_or_create()
        n = r.client.send_to(r.id, addr, data, timeout=self._wait(flags))
        if r.state != "STATE_BOUND" and r.state != "STATE_CONNECTED":
            r.local = ""  # bound implicitly: ask again when needed
            r.state = "STATE_BOUND"
        return n

    def _check_sendfile_params(self, file, offset, count):
        if "b" not in getattr(file, "mode", "b"):
            raise ValueError("file should be opened in binary mode")
        if not self.type & SOCK_STREAM:
            raise ValueError("only SOCK_STREAM type sockets are supported")
        if count is not None:
            if not isinstance(count, int):
                raise TypeError("count must be a positive integer (got {!r})".format(count))
            if count <= 0:
                raise ValueError("count must be a positive integer (got {!r})".format(count))

    def _sendfile_use_sendfile(self, file, offset=0, count=None):
        """os.sendfile() needs the socket's descriptor here, and this socket
        is on sockd: always gives up (after the standard module's checks)."""
        self._check_sendfile_params(file, offset, count)
        try:
            fileno = file.fileno()
        except (AttributeError, _io.UnsupportedOperation) as err:
            raise _GiveupOnSendfile(err)
        try:
            _os.fstat(fileno)
        except OSError as err:
            raise _GiveupOnSendfile(err)
        raise _GiveupOnSendfile("os.sendfile() cannot write to a socket on sockd")

    def _sendfile_use_send(self, file, offset=0, count=None):
        self._check_sendfile_params(file, offset, count)
        if self.gettimeout() == 0:
            raise ValueError("non-blocking sockets are not supported")
        if offset:
            file.seek(offset)
        block = _SENDFILE_BLOCK
        blocksize = min(count, block) if count else block
        total_sent = 0
        try:
            while True:
                if count:
                    blocksize = min(count - total_sent, blocksize)
                    if blocksize <= 0:
                        break
                data = memoryview(file.read(blocksize))
                if not data:
                    break
                while True:
                    try:
                        sent = self.send(data)
                    except BlockingIOError:
                        continue
                    total_sent += sent
                    if sent < len(data):
                        data = data[sent:]
                    else:
                        break
            return total_sent
        finally:
            if total_sent > 0 and hasattr(file, "seek"):
                file.seek(offset + total_sent)

    def sendfile(self, file, offset=0, count=None):
        """Sends a file until EOF (or count bytes) with send(), as the
        standard module does where os.sendfile() cannot be used; returns the
        bytes sent."""
        try:
            return self._sendfile_use_sendfile(file, offset, count)
        except _GiveupOnSendfile:
            return self._sendfile_use_send(file, offset, count)

    def sendmsg(self, buffers, ancdata=(), flags=0, address=None):
        """sendmsg: the buffers' data as one send (or sendto). Ancillary
        data cannot reach sockd: a non-empty ancdata is refused."""
        data = b"".join(_bytes(b) for b in buffers)
        items = []
        for item in ancdata:
            if not isinstance(item, tuple) or len(item) != 3:
                raise TypeError("[sendmsg() ancillary data items]() argument must be sequence of length 3, not %s"
                                % item.__class__.__name__)
            level, kind, payload = item
            _c_int(level)
            _c_int(kind)
            _bytes(payload)
            items.append(item)
        if not isinstance(flags, int):
            raise _not_int(flags)
        if address is not None and not isinstance(address, tuple):
            raise TypeError("sendmsg(): address must be a tuple, not %s" % address.__class__.__name__)
        if items:
            raise _errors.not_remote(_errno.EOPNOTSUPP, "ancillary data (SCM_RIGHTS, ...) cannot cross to sockd")
        if address is not None:
            return self.sendto(data, flags, address)
        return self.send(data, flags)

    def _recvmsg(self, bufsize, ancbufsize, flags):
        for v in (bufsize, ancbufsize, flags):
            if not isinstance(v, int):
                raise _not_int(v)
        if bufsize < 0:
            raise ValueError("negative buffer size in recvmsg()")
        if ancbufsize < 0:
            raise ValueError("negative buffer size in recvmsg()")
        r = self._remote()
        if r is None:
            if self._type == SOCK_STREAM:
                raise _oserror(_errno.ENOTCONN)
            return self._recv_unbound()
        data, addr, truncated = self._recvfrom(r, bufsize, flags)
        # No ancillary data can come: none of the options that ask the
        # kernel for it can be set on sockd.
        return data, [], _std.MSG_TRUNC if truncated else 0, addr

    def recvmsg(self, bufsize, ancbufsize=0, flags=0):
        """recvmsg: (data, ancdata, msg_flags, address); ancdata is always
        empty (MSG_TRUNC in msg_flags for a truncated datagram)."""
        return self._recvmsg(bufsize, ancbufsize, flags)

    def recvmsg_into(self, buffers, ancbufsize=0, flags=0):
        """recvmsg_into: (nbytes, ancdata, msg_flags, address)."""
        views = [memoryview(b).cast("B") for b in buffers]
        for v in views:
            if v.readonly:
                raise TypeError("recvmsg_into() argument 1 must be an iterable of single-segment read-write buffers")
        data, anc, msg_flags, addr = self._recvmsg(sum(len(v) for v in views), ancbufsize, flags)
        pos = 0
        for v in views:
            k = min(len(v), len(data) - pos)
            v[:k] = data[pos:pos + k]
            pos += k
        return len(data), anc, msg_flags, addr

    # -- addresses -----------------------------------------------------------

    def getsockname(self):
        r = self._remote()
        if r is None:
            return _from_sockd(self._family, "")
        if not r.local and r.state != "STATE_CREATED":
            r.refresh()
        return _from_sockd(self._family, r.local)

    def getpeername(self):
        r = self._remote()
        if r is None:
            raise _oserror(_errno.ENOTCONN)
        if not r.peer and (r.connecting or r.state == "STATE_CONNECTED"):
            r.refresh()
        if not r.peer:
            raise _oserror(_errno.ENOTCONN)
        return _from_sockd(self._family, r.peer)

    # -- options -------------------------------------------------------------

    def setsockopt(self, level, optname, value, optlen=None):
        self._check_open()
        name = _option_name(level, optname, self._family, self._type, True)
        if name in _READ_ONLY:
            raise _oserror(_errno.ENOPROTOOPT)
        if value is None:
            raise _errors.not_remote(_errno.EINVAL, "setsockopt(level, option, None, optlen) has no remote equivalent")
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            if name == "SO_LINGER":
                if len(raw) < _LINGER.size:
                    raise _oserror(_errno.EINVAL)
                onoff, secs = _LINGER.unpack(raw[:_LINGER.size])
                value = secs if onoff else -1
            else:
                if len(raw) < _INT.size:
                    raise _oserror(_errno.EINVAL)
                value = _INT.unpack(raw[:_INT.size])[0]
        else:
            value = int(value)
            if name == "SO_LINGER":
                raise _oserror(_errno.EINVAL)  # the kernel wants struct linger
        r = self._r
        if r is None:
            with self._create_lock:
                if self._r is None:
                    self._options.append((name, value))
                    return None
            r = self._r
        r.client.set_option(r.id, name, value)
        return None

    def getsockopt(self, level, optname, buflen=None):
        self._check_open()
        name = _option_name(level, optname, self._family, self._type, False)
        if buflen is not None and not 0 < buflen <= 1024:
            raise OSError("getsockopt buflen out of range")
        if name == "SO_TYPE":
            value = int(self._type)
        elif name == "SO_ERROR" and self._r is None:
            value = 0
        else:
            r = self._remote_or_create()
            value = r.client.get_option(r.id, name)
        if name == "SO_LINGER":
            onoff, secs = (0, 0) if value < 0 else (1, value)
            if buflen is None:
                return onoff
            return _LINGER.pack(onoff, secs)[:buflen]
        if buflen is None:
            return value
        return _INT.pack(value)[:buflen]

    # -- ending ----------------------------------------------------------------

    def shutdown(self, how):
        names = {_std.SHUT_RD: "read", _std.SHUT_WR: "write", _std.SHUT_RDWR: "both"}
        how = _c_int(how)
        if how not in names:
            self._check_open()
            raise _oserror(_errno.EINVAL)
        r = self._remote()
        if r is None:
            raise _oserror(_errno.ENOTCONN)
        r.update(r.client.shutdown(r.id, names[how]))

    def _decref_socketios(self):
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    def _real_close(self):
        r, self._r = self._r, None
        if self._fd != -1 and _handles.get(self._fd) is self:
            _handles.pop(self._fd, None)
        self._fd = -1
        if r is None:
            return
        if r.closed:
            raise _ebadf()  # closed under us: socket.close(fd), another object on the fd
        r.refs -= 1
        if r.refs <= 0:
            if r.forked and r.pid == _os.getpid():
                # A child forked since shares it (socketserver.ForkingMixIn
                # closes the request in the parent at once): as with a
                # descriptor, the socket lives on until the child closes it
                # (or the process lease ends).
                return
            r.close()

    def close(self):
        """Closes the socket (on sockd, once no makefile() file and no dup()
        still uses it)."""
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def detach(self):
        """Closes the socket object without closing the socket; returns the
        pseudo descriptor, which socket(fileno=fd) turns back into one."""
        if self._fd != -1 and self._r is None:
            self._remote_or_create()  # the descriptor must name a socket
        self._closed = True
        fd, r = self._fd, self._r
        if fd != -1:
            _handles.pop(fd, None)
        self._fd, self._r = -1, None
        if r is None:
            return -1
        _detached[fd] = r
        return fd

    def dup(self):
        """A new socket object for the same socket on sockd."""
        r = self._remote_or_create()
        r.refs += 1
        s = socket.__new__(socket)
        s._family, s._type, s._proto = self._family, self._type, self._proto
        s._timeout = self._timeout
        s._options, s._closed, s._io_refs = [], False, 0
        s._create_lock = _threading.Lock()
        s._r = r
        s._fd = next(_fd_counter)
        _handles[s._fd] = s
        return s

    def get_inheritable(self):
        return False

    def set_inheritable(self, inheritable):
        if inheritable:
            raise _errors.not_remote(_errno.EOPNOTSUPP, "a socket on sockd cannot be inherited by a child process")

    # -- files ---------------------------------------------------------------

    def makefile(self, mode="r", buffering=None, *, encoding=None, errors=None, newline=None):
        """A file object over the socket, as the standard module makes it
        (io.BufferedReader/Writer over socket.SocketIO, TextIOWrapper for
        text modes)."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError("invalid mode %r (only r, w, b allowed)" % (mode,))
        writing = "w" in mode
        reading = "r" in mode or not writing
        assert reading or writing
        binary = "b" in mode
        rawmode = ""
        if reading:
            rawmode += "r"
        if writing:
            rawmode += "w"
        raw = _std.SocketIO(self, rawmode)
        self._io_refs += 1
        if buffering is None:
            buffering = -1
        if buffering < 0:
            buffering = _io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        if reading and writing:
            buffer = _io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = _io.BufferedReader(raw, buffering)
        else:
            buffer = _io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        encoding = _io.text_encoding(encoding) if hasattr(_io, "text_encoding") else encoding
        text = _io.TextIOWrapper(buffer, encoding, errors, newline)
        text.mode = mode
        return text

    # -- readiness, for sockd.select and sockd.selectors -------------------------

    def _sockd_readable(self, wait):
        """Waits up to `wait` seconds (0: just look) for the socket to be
        readable, as select() would report it: a connection to accept, data
        or EOF to receive, or an error. A connection taken from the kernel
        this way is kept for the next accept()."""
        r = self._r
        if r is None or self._fd == -1:
            return self._fd == -1
        if r.pending:
            return True
        c = r.client
        try:
            if r.state == "STATE_LISTENING":
                r.pending.append(c.accept(r.id, timeout=wait))
                return True
            if r.stream:
                lim = _get_limits()
                c.recv(r.id, 1, timeout=wait, peek=True, from_offset=r.recv_off if lim.offsets else None)
                return True
            c.recv(r.id, 1, timeout=wait, peek=True)
            return True
        except _errors.SockdError as e:
            if e.reason in ("TIMEOUT", "EAGAIN", "EWOULDBLOCK"):
                return False
            if r.state == "STATE_LISTENING":
                r.pending.append(e)
            return True

    def _sockd_writable(self):
        r = self._r
        if r is None or self._fd == -1:
            return self._fd == -1 or self._type == SOCK_DGRAM
        if r.state == "STATE_LISTENING":
            return False
        if r.connecting:
            r.refresh()
            return not r.connecting
        return True


SocketType = socket


class _GiveupOnSendfile(Exception):
    pass


# sendfile() reads and sends this much per call.
_SENDFILE_BLOCK = 1 << 20


def _not_int(v):
    """The TypeError the interpreter's own argument parsing gives for a
    value that is not an integer (its wording changed in 3.10)."""
    if _sys.version_info < (3, 10):
        if isinstance(v, float):
            return TypeError("integer argument expected, got float")
        return TypeError("an integer is required (got type %s)" % v.__class__.__name__)
    return TypeError("'%s' object cannot be interpreted as an integer" % v.__class__.__name__)


def _c_int(v):
    """v as a C int, as the standard module's argument parsing takes it."""
    if isinstance(v, float) or not hasattr(v, "__index__"):
        raise _not_int(v)
    v = v.__index__()
    if v > 0x7FFFFFFF:
        raise OverflowError("signed integer is greater than maximum")
    if v < -0x80000000:
        raise OverflowError("signed integer is less than minimum")
    return v


def _bytes(data):
    if isinstance(data, bytes):
        return data
    try:
        return memoryview(data).tobytes()
    except TypeError:
        raise TypeError("a bytes-like object is required, not '%s'" % data.__class__.__name__) from None


def _intenum(value, enum_klass):
    """value as an enum member when it is one, else the int (as the standard
    module's family and type properties)."""
    try:
        return enum_klass(value)
    except ValueError:
        return value


def _check_local_fd(fd):
    """Raises what the standard module raises for a local descriptor that is
    not a socket (ENOTSOCK) or not open (EBADF); a local socket passes."""
    import stat
    st = _os.fstat(fd)  # EBADF if it is not open
    if not stat.S_ISSOCK(st.st_mode):
        raise OSError(_errno.ENOTSOCK, _os.strerror(_errno.ENOTSOCK))
    raise _errors.not_remote(_errno.EBADF, "fd %d is a local socket: a local descriptor cannot become a socket on sockd" % fd)


def _check_flags(flags, allowed):
    if flags & ~allowed:
        raise _errors.not_remote(_errno.EOPNOTSUPP, "flags %#x are not supported by sockd" % (flags & ~allowed))


def _family_name(family):
    try:
        return _std.AddressFamily(family).name
    except ValueError:
        return str(family)


def _type_name(type):
    try:
        return _std.SocketKind(type).name
    except ValueError:
        return str(type)


# -- functions -------------------------------------------------------------------


def close(fd):
    """Closes a descriptor: a pseudo descriptor's socket on sockd, or a
    local descriptor (os.close)."""
    if not isinstance(fd, int):
        raise _not_int(fd)
    s = _handles.get(fd)
    if s is not None and s._r is not None:
        s._r.close()
        return
    r = _detached.pop(fd, None)
    if r is not None:
        r.close()
        return
    _std.close(fd)


def fromfd(fd, family, type, proto=0):
    """Only for this module's pseudo descriptors: a new socket object for the
    same socket on sockd (a local descriptor cannot become remote)."""
    other = _handles.get(fd)
    if other is None:
        raise _errors.not_remote(_errno.EBADF, "fd %r is not a sockd socket: a local descriptor cannot become a remote socket" % (fd,))
    return other.dup()


def dup(fd):
    """Duplicates a pseudo descriptor; returns the new one."""
    s = fromfd(fd, 0, 0)
    return s.detach()


def fromshare(info):
    raise _errors.not_remote(_errno.EOPNOTSUPP, "socket.share() is Windows-only and has no remote equivalent")


def socketpair(family=AF_INET, type=SOCK_STREAM, proto=0):
    """A pair of connected TCP sockets on sockd, made as the standard module
    makes them where AF_UNIX is missing (Windows): a listener on loopback,
    a connect and an accept. AF_UNIX itself cannot be remote."""
    if family == getattr(_std, "AF_UNIX", object()):
        raise _errors.not_remote(
            _errno.EAFNOSUPPORT,
            "socketpair(AF_UNIX) cannot be remote; socketpair() gives connected TCP sockets on sockd")
    if family not in (AF_INET, AF_INET6):
        raise ValueError("Only AF_INET and AF_INET6 socket address families are supported")
    if type != SOCK_STREAM:
        raise ValueError("Only SOCK_STREAM socket type is supported")
    host = "127.0.0.1" if family == AF_INET else "::1"
    with create_server((host, 0), family=family) as lsock:
        csock = create_connection(lsock.getsockname()[:2])
        ssock, _ = lsock.accept()
    return ssock, csock


def send_fds(sock, buffers, fds, flags=0, address=None):
    raise _errors.not_remote(_errno.EOPNOTSUPP, "file descriptors cannot be passed to or through sockd")


def recv_fds(sock, bufsize, maxfds, flags=0):
    raise _errors.not_remote(_errno.EOPNOTSUPP, "file descriptors cannot be passed to or through sockd")


def _is_literal(host, family):
    try:
        _std.inet_pton(family, host)
        return True
    except (OSError, ValueError, TypeError):
        return False


def create_connection(address, timeout=_GLOBAL_DEFAULT_TIMEOUT, source_address=None, *, all_errors=False):
    """Connects to (host, port) and returns the socket. A host name is
    resolved by sockd; IPv4 is tried first, then IPv6, as the addresses of
    getaddrinfo would be."""
    host, port = address
    host = _host_text(host, "create_connection")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if _is_literal(host, AF_INET6) and not _is_literal(host, AF_INET):
        families = (AF_INET6,)
    elif _is_literal(host, AF_INET):
        families = (AF_INET,)
    else:
        families = (AF_INET, AF_INET6)
    errs, no_address = [], None
    for fam in families:
        sock = None
        try:
            sock = socket(fam, SOCK_STREAM)
            if timeout is not _GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect((host, port))
            return sock
        except gaierror as e:
            # The name has no address of this family on sockd's host:
            # getaddrinfo would not have listed one to try.
            if sock is not None:
                sock.close()
            if len(families) == 1:
                raise
            no_address = e
        except OSError as e:
            if sock is not None:
                sock.close()
            if not all_errors:
                errs.clear()  # raise only the last error, as the standard module
            errs.append(e)
    if errs:
        group = getattr(_builtins, "ExceptionGroup", None)
        if all_errors and group is not None:
            raise group("create_connection failed", errs)
        raise errs[0]
    if no_address is not None:
        raise no_address
    raise OSError("getaddrinfo returns an empty list")


_dualstack = None


def has_dualstack_ipv6():
    """Whether sockd's host can make an IPv6 socket that also takes IPv4
    (IPV6_V6ONLY off). Asked once."""
    global _dualstack
    if _dualstack is None:
        try:
            c = _get_client()
            info = c.create_socket(family="ipv6", options=[("IPV6_V6ONLY", 0)], lease_id=_process_lease.id())
            c.close_socket(info["id"])
            _dualstack = True
        except OSError:
            _dualstack = False
    return _dualstack


def create_server(address, *, family=AF_INET, backlog=None, reuse_port=False, dualstack_ipv6=False):
    """A listening TCP socket bound to address, made in one call to sockd
    (SO_REUSEADDR, bind and listen together)."""
    if reuse_port and not hasattr(_std, "SO_REUSEPORT"):
        raise ValueError("SO_REUSEPORT not supported on this platform")
    if dualstack_ipv6:
        if not has_dualstack_ipv6():
            raise ValueError("dualstack_ipv6 not supported on this platform")
        if family != AF_INET6:
            raise ValueError("dualstack_ipv6 requires AF_INET6 family")
    sock = socket(family, SOCK_STREAM)
    try:
        addr = _to_sockd(sock.family, address, "bind")
        options = [("SO_REUSEADDR", 1)]
        if reuse_port:
            options.append(("SO_REUSEPORT", 1))
        if family == AF_INET6:
            options.append(("IPV6_V6ONLY", 0 if dualstack_ipv6 else 1))
        sock._options = options
        with sock._create_lock:
            try:
                sock._r = sock._create(bind_address=addr, listen=True,
                                       backlog=None if backlog is None else max(int(backlog), 0))
            except OSError as err:
                if isinstance(err, _errors.SockdError) and err.errno == _errno.EADDRINUSE:
                    msg = '%s (while attempting to bind on address %r)' % (err.strerror, address)
                    raise OSError(err.errno, msg) from None
                raise
        return sock
    except BaseException:
        sock.close()
        raise


# -- names -------------------------------------------------------------------------


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    """Addresses for (host, port), as the standard getaddrinfo returns them.
    Literals and the wildcard are worked out here; host names are resolved
    by sockd (what they mean on sockd's host): see _resolve."""
    if host is not None:
        host = _host_text(host, "getaddrinfo")
    if isinstance(port, str):
        if port.isdigit():
            port = int(port)
        elif flags & getattr(_std, "AI_NUMERICSERV", 0):
            raise gaierror(_std.EAI_NONAME, "Name or service not known")
        else:
            try:
                port = _std.getservbyname(port)
            except OSError:
                raise gaierror(_std.EAI_SERVICE, "Servname not supported for ai_socktype")
    elif isinstance(port, bytes):
        port = int(port)
    elif port is None:
        port = 0
    elif not isinstance(port, int):
        raise OSError("Int or String expected")
    if family not in (0, AF_INET, AF_INET6):
        raise gaierror(_std.EAI_FAMILY, "ai_family not supported")
    types = [type] if type else [SOCK_STREAM, SOCK_DGRAM]
    for t in types:
        if t not in (SOCK_STREAM, SOCK_DGRAM):
            raise gaierror(_std.EAI_SOCKTYPE, "ai_socktype not supported")
    addrs = []  # (family, ip)
    if not host:
        if flags & _std.AI_PASSIVE:
            cand = [(AF_INET, "0.0.0.0"), (AF_INET6, "::")]
        else:
            cand = [(AF_INET, "127.0.0.1"), (AF_INET6, "::1")]
        addrs = [a for a in cand if family in (0, a[0])]
    elif _is_literal(host, AF_INET) or (_looks_numeric(host) and ":" not in host):
        try:
            ip = _std.inet_ntoa(_std.inet_aton(host))
        except OSError:
            raise gaierror(_std.EAI_NONAME, "Name or service not known")
        if family == AF_INET6:
            raise gaierror(_std.EAI_ADDRFAMILY if hasattr(_std, "EAI_ADDRFAMILY") else _std.EAI_FAMILY,
                           "Address family for hostname not supported")
        addrs = [(AF_INET, ip)]
    elif _is_literal(host.split("%")[0], AF_INET6):
        if family == AF_INET:
            raise gaierror(_std.EAI_ADDRFAMILY if hasattr(_std, "EAI_ADDRFAMILY") else _std.EAI_FAMILY,
                           "Address family for hostname not supported")
        if "%" in host:
            raise _errors.not_remote(_errno.EINVAL, "sockd does not take IPv6 scope ids (zones): %r" % host)
        addrs = [(AF_INET6, _std.inet_ntop(AF_INET6, _std.inet_pton(AF_INET6, host)))]
    else:
        if flags & _std.AI_NUMERICHOST:
            raise gaierror(_std.EAI_NONAME, "Name or service not known")
        addrs = _resolve(host, family)
    canon = host if (flags & _std.AI_CANONNAME) else ""
    out = []
    for fam, ip in addrs:
        for t in types:
            p = proto or (_std.IPPROTO_TCP if t == SOCK_STREAM else _std.IPPROTO_UDP)
            sa = (ip, port) if fam == AF_INET else (ip, port, 0, 0)
            out.append((_std.AddressFamily(fam), _std.SocketKind(t), p, canon, sa))
            canon = ""
    if not out:
        raise gaierror(_std.EAI_NONAME, "Name or service not known")
    return out


def _resolve(host, family):
    """Resolves a host name on sockd's host. sockd has no lookup call of its
    own, so this connects a UDP socket there to the name (no packet is sent)
    and reads back the address sockd resolved it to: one address per family,
    and only names whose addresses the connect policy allows."""
    c = _get_client()
    found, errs = [], []
    for fam in (AF_INET, AF_INET6):
        if family not in (0, fam):
            continue
        try:
            info = c.create_socket(protocol="udp", family="ipv6" if fam == AF_INET6 else "ipv4",
                                   connect_address="%s:9" % host, lease_id=_process_lease.id())
        except _errors.SockdError as e:
            errs.append(e)
            continue
        try:
            c.close_socket(info["id"])
        except OSError:
            pass
        ip, _ = _client_mod.parse_address(info.get("remoteAddress", ""))
        if ip:
            found.append((fam, ip))
    if found:
        return found
    for e in errs:
        if e.reason == "POLICY_DENIED":
            raise gaierror(_std.EAI_NONAME, "Name or service not known (sockd: %s)" % e.message)
    raise gaierror(_std.EAI_NONAME, "Name or service not known")


def gethostbyname(hostname):
    """The IPv4 address of a host name, as resolved on sockd's host."""
    return getaddrinfo(hostname, 0, AF_INET, SOCK_STREAM)[0][4][0]


def gethostbyname_ex(hostname):
    """(hostname, aliases, IPv4 addresses), as resolved on sockd's host."""
    ips = [ai[4][0] for ai in getaddrinfo(hostname, 0, AF_INET, SOCK_STREAM)]
    return hostname, [], ips
