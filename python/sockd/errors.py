"""sockd's errors as Python exceptions.

Every failed call raises a SockdError. It is also the OSError subclass that
the standard socket module raises for the same condition (so
``except ConnectionRefusedError`` and ``e.errno == errno.ECONNREFUSED`` work):

- a reason that is an errno name (ECONNREFUSED, EADDRINUSE, ...) gives that
  errno, as this machine's errno module numbers it, and its OSError subclass;
- TIMEOUT is ``socket.timeout`` ("timed out"), EAGAIN and EINPROGRESS are
  BlockingIOError, as for a non-blocking socket;
- sockd's own reasons (ErrorReason in errors.proto, see _reasons.py) have the
  errno of the nearest kernel condition (REASON_ERRNO below: a vanished
  socket is EBADF, a policy refusal EACCES, an unknown option ENOPROTOOPT).

The attributes say what sockd said: ``reason``, ``code`` (the gRPC code
number), ``code_name``, ``metadata`` (errno, op, socketId, address, field,
limit, ...), ``message``, ``http_status``, ``request_id``.
"""

import errno as _errno
import os
import socket as _std_socket

from . import _reasons
from ._reasons import REASONS

__all__ = [
    "SockdError",
    "SockdConnectionError",
    "NotRemoteError",
    "REASON_ERRNO",
    "CODE_NAMES",
    "error_from_status",
    "errno_of_reason",
]

# The standard socket module's exception classes, whatever `socket` is now.
_std = getattr(_std_socket, "_sockd_std", _std_socket)
timeout = _std.timeout
gaierror = _std.gaierror

# google.rpc.Code names by number.
CODE_NAMES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
)

# The errno each of sockd's own reasons stands for: what the standard socket
# module would raise for the nearest local condition. tests/test_reasons.py
# checks that every ErrorReason of the proto is here.
REASON_ERRNO = {
    _reasons.SOCKET_NOT_FOUND: _errno.EBADF,  # the socket is gone, as a closed descriptor
    _reasons.LEASE_NOT_FOUND: _errno.ENOENT,
    _reasons.INVALID_ADDRESS: _errno.EINVAL,  # raised as socket.gaierror, see below
    _reasons.INVALID_OPTION: _errno.ENOPROTOOPT,  # setsockopt's "Protocol not available"
    _reasons.INVALID_ARGUMENT: _errno.EINVAL,
    _reasons.WRONG_STATE: _errno.EINVAL,  # refined by the op: see _WRONG_STATE_ERRNO
    _reasons.NAME_IN_USE: _errno.EEXIST,
    _reasons.LIMIT_EXCEEDED: _errno.ENOBUFS,  # EMFILE when the limit is on sockets
    _reasons.POLICY_DENIED: _errno.EACCES,  # as bind() to a port one may not use
    _reasons.TIMEOUT: _errno.ETIMEDOUT,  # raised as socket.timeout("timed out")
    _reasons.CANCELLED: _errno.EINTR,
    _reasons.SHUTTING_DOWN: _errno.ECONNABORTED,
    _reasons.UNAUTHENTICATED: _errno.EACCES,
    _reasons.INTERNAL: _errno.EIO,
    _reasons.CROSS_ORIGIN: _errno.EACCES,
    _reasons.HOST_NOT_ALLOWED: _errno.EACCES,
    _reasons.MALFORMED_REQUEST: _errno.EINVAL,
    _reasons.ROUTE_NOT_FOUND: _errno.ENOSYS,  # an older sockd without this call
    _reasons.METHOD_NOT_ALLOWED: _errno.ENOSYS,
    _reasons.AUTH_THROTTLED: _errno.EAGAIN,
    _reasons.OFFSET_UNAVAILABLE: _errno.EIO,  # bytes were lost: nothing better to say
    _reasons.INVALID_OFFSET: _errno.EIO,
    _reasons.PROXY_NOT_FOUND: _errno.ENOENT,
    _reasons.RELAY_NOT_FOUND: _errno.ENOENT,
    _reasons.FAULT_NOT_FOUND: _errno.ENOENT,
    _reasons.FAULT_EXISTS: _errno.EEXIST,
    _reasons.SOCKET_IN_USE: _errno.EBUSY,
    _reasons.CAPTURE_DISABLED: _errno.EOPNOTSUPP,
    _reasons.INVALID_CAPTURE: _errno.EINVAL,
}

# WRONG_STATE is sockd refusing a call before the kernel sees it; these are
# the errnos Linux gives for the same calls (recv on a listener is
# ENOTCONN, listen on UDP EOPNOTSUPP, accept before listen EINVAL, ...).
_WRONG_STATE_ERRNO = {
    "recv": _errno.ENOTCONN,
    "recvfrom": _errno.ENOTCONN,
    "send": _errno.EPIPE,
    "sendto": _errno.EPIPE,
    "connect": _errno.EISCONN,
    "getpeername": _errno.ENOTCONN,
    "shutdown": _errno.ENOTCONN,
}

# Reasons for which no errno-like number makes sense are still OSErrors;
# these codes, when sockd sent no ErrorInfo at all (an older sockd, a proxy
# in between), give the errno.
_CODE_ERRNO = {
    1: _errno.EINTR, 2: _errno.EIO, 3: _errno.EINVAL, 4: _errno.ETIMEDOUT, 5: _errno.ENOENT,
    6: _errno.EEXIST, 7: _errno.EACCES, 8: _errno.ENOBUFS, 9: _errno.EINVAL, 10: _errno.EIO,
    11: _errno.ERANGE, 12: _errno.ENOSYS, 13: _errno.EIO, 14: _errno.ECONNABORTED,
    15: _errno.EIO, 16: _errno.EACCES,
}


class SockdError(OSError):
    """A call that sockd refused or that failed on sockd's host.

    It is an OSError with the errno of the condition; ``reason`` is the
    ErrorInfo reason (an errno name or an ErrorReason), ``code`` the gRPC
    status code, ``metadata`` the ErrorInfo metadata."""

    reason = ""
    code = 2
    message = ""
    metadata = None
    http_status = None
    request_id = None

    @property
    def code_name(self):
        if 0 <= self.code < len(CODE_NAMES):
            return CODE_NAMES[self.code]
        return str(self.code)

    @property
    def remote_errno(self):
        """The errno number as sockd's kernel reported it (metadata errno)."""
        try:
            return int((self.metadata or {}).get("errno"))
        except (TypeError, ValueError):
            return None

    @property
    def bytes_sent(self):
        """For a send cut short: how much went out before the error."""
        try:
            return int((self.metadata or {}).get("bytesSent", 0))
        except (TypeError, ValueError):
            return 0


class SockdConnectionError(SockdError, ConnectionError):
    """sockd itself could not be reached, or the connection to it broke
    where a retry could have done the call twice."""


class NotRemoteError(SockdError):
    """What a socket on sockd cannot do: AF_UNIX, a local descriptor for
    select/poll or os calls, ancillary data (sendmsg), fromfd, dup."""


_classes = {}


def _class_for(base):
    """The SockdError subclass that is also `base` (ConnectionRefusedError,
    socket.timeout, ...)."""
    if base is OSError:
        return SockdError
    cls = _classes.get(base)
    if cls is None:
        cls = type("Sockd" + base.__name__, (SockdError, base), {"__module__": __name__})
        _classes[base] = cls
    return cls


def _oserror_class(num):
    """The OSError subclass the interpreter picks for an errno."""
    return type(OSError(num, "")) if num else OSError


def errno_of_reason(reason, metadata=None, code=None):
    """The local errno for an ErrorInfo reason (and its metadata)."""
    metadata = metadata or {}
    if reason in REASONS:
        if reason == _reasons.WRONG_STATE:
            return _WRONG_STATE_ERRNO.get(metadata.get("op", ""), _errno.EINVAL)
        if reason == _reasons.LIMIT_EXCEEDED and "socket" in metadata.get("limit", "").lower():
            return _errno.EMFILE
        return REASON_ERRNO[reason]
    num = getattr(_errno, reason, None) if reason.startswith("E") else None
    if isinstance(num, int):
        return num
    try:
        return int(metadata.get("errno"))
    except (TypeError, ValueError):
        pass
    if code is not None:
        return _CODE_ERRNO.get(code, _errno.EIO)
    return _errno.EIO


def error_from_status(status, http_status=None, request_id=None):
    """Builds the exception for a google.rpc.Status in JSON form:
    {"code", "message", "details": [{"@type": "...ErrorInfo", "reason",
    "domain", "metadata"}]}."""
    if not isinstance(status, dict):
        status = {}
    code = status.get("code", 2)
    if not isinstance(code, int):
        code = 2
    message = status.get("message", "") or ""
    reason, metadata = "", {}
    for d in status.get("details") or ():
        if isinstance(d, dict) and d.get("@type", "").endswith("google.rpc.ErrorInfo"):
            reason = d.get("reason", "") or ""
            metadata = d.get("metadata") or {}
            break
    if not reason:
        # No ErrorInfo (gRPC's own errors, the gateway's routing errors):
        # name it after its code, as the Go client does.
        reason = "TIMEOUT" if code == 4 else (CODE_NAMES[code] if 0 <= code < len(CODE_NAMES) else "UNKNOWN")
        if reason not in REASONS:
            reason = {12: _reasons.ROUTE_NOT_FOUND, 5: _reasons.ROUTE_NOT_FOUND}.get(code, reason)
    return make_error(reason, message, metadata, code, http_status, request_id)


def make_error(reason, message, metadata=None, code=2, http_status=None, request_id=None):
    """The exception for a reason, as the standard socket module would raise
    the condition."""
    metadata = metadata or {}
    if reason == _reasons.TIMEOUT:
        err = _class_for(timeout)("timed out")
    elif reason == _reasons.INVALID_ADDRESS:
        err = _class_for(gaierror)(_std.EAI_NONAME, "Name or service not known (sockd: %s)" % message)
    else:
        num = errno_of_reason(reason, metadata, code)
        if reason in REASONS:
            text = "%s (sockd %s: %s)" % (os.strerror(num), reason, message)
        else:
            text = os.strerror(num)
        err = _class_for(_oserror_class(num))(num, text)
    err.reason = reason
    err.code = code
    err.message = message
    err.metadata = metadata
    err.http_status = http_status
    err.request_id = request_id
    return err


def connection_error(url, cause):
    """sockd could not be reached (or the connection broke mid-call)."""
    err = SockdConnectionError("sockd at %s: %s" % (url, cause))
    err.reason = "UNAVAILABLE"
    err.code = 14
    err.message = str(cause)
    err.metadata = {}
    return err


def not_remote(num, what):
    """The clear error for what cannot be done on a remote socket."""
    err = NotRemoteError(num, "%s: %s" % (os.strerror(num), what))
    err.reason = "NOT_REMOTE"
    err.message = what
    err.metadata = {}
    return err
