"""The process lease: remote sockets die with the program that made them.

A kernel descriptor does not outlive its process; a socket on sockd would,
so sockd.socket creates every socket under one lease per process
(CreateSocket's leaseId). A background thread holds the lease's keep-alive
stream open: while it is open the lease cannot lapse. At exit the lease is
revoked, which closes every socket under it; if the process crashes or is
killed, its keep-alive connection breaks and sockd closes the sockets once
the TTL (SOCKD_LEASE_TTL, default 10 seconds) has passed.
"""

import atexit
import os
import sys
import threading
import time
import weakref

from . import errors

DEFAULT_TTL = 10.0
_all = weakref.WeakSet()


def _after_fork_in_child():
    for lease in list(_all):
        lease._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def ttl_from_env():
    v = os.environ.get("SOCKD_LEASE_TTL", "")
    if not v:
        return DEFAULT_TTL
    try:
        ttl = float(v[:-1] if v.endswith("s") else v)
    except ValueError:
        raise ValueError("SOCKD_LEASE_TTL must be seconds (1 to 86400), not %r" % v)
    return ttl


class ProcessLease:
    """A lease held for as long as this process lives.

    id() creates it on first use and starts the keep-alive thread;
    revoke() ends it (and with it the process's sockets)."""

    def __init__(self, client, ttl=None):
        self.client = client
        self.ttl = ttl_from_env() if ttl is None else ttl
        self._lock = threading.Lock()
        self._id = None
        self._pid = os.getpid()
        self._stream = None
        self._thread = None
        _all.add(self)
        self.lost = None  # why the keep-alive stopped, if it did

    def _after_fork(self):
        self._lock = threading.Lock()

    def id(self):
        """The lease's id, creating the lease (and its keep-alive) if needed."""
        with self._lock:
            if self._pid != os.getpid():
                # A forked child: the parent's lease stays the parent's (its
                # sockets live on under it); the child gets its own.
                self._pid, self._id, self._stream, self._thread = os.getpid(), None, None, None
            if self._id is not None:
                return self._id
            lease = self.client.create_lease(self.ttl)
            self._id = lease["id"]
            self.lost = None
            started = threading.Event()
            self._thread = threading.Thread(target=self._keep_alive, args=(self._id, started),
                                            name="sockd-lease", daemon=True)
            self._thread.start()
            lease_id = self._id
        # The lease is held once its keep-alive stream has answered; the
        # TTL covers the moment before.
        started.wait(self.ttl / 2)
        return lease_id

    def _keep_alive(self, lease_id, started):
        """Holds the keep-alive stream open, reopening it when it breaks,
        until revoke() or the lease is gone."""
        delay = 0.05
        current = lambda: self._id == lease_id and self._pid == os.getpid()
        while current():
            try:
                stream = self.client.keep_alive_lease(lease_id)
                with self._lock:
                    if not current():
                        stream.close()
                        return
                    self._stream = stream
                for _ in stream:
                    started.set()
                    delay = 0.05
            except errors.SockdError as e:
                if not current():
                    return
                if e.reason in ("LEASE_NOT_FOUND", "SOCKET_NOT_FOUND"):
                    self._lose(lease_id, e)
                    return
                self.lost = e
            except Exception as e:  # keep the thread alive whatever happens
                if not current():
                    return
                self.lost = e
            finally:
                started.set()
            if not current():
                return
            time.sleep(delay)
            delay = min(delay * 2, max(self.ttl / 4, 0.1))

    def _lose(self, lease_id, err):
        with self._lock:
            if self._id == lease_id:
                self._id = None
            self.lost = err
        sys.stderr.write("sockd: the process lease %s is gone (%s); its sockets were closed\n" % (lease_id, err))

    def revoke(self):
        """Ends the keep-alive and revokes the lease, closing its sockets.
        Only the process that created the lease revokes it."""
        with self._lock:
            if self._pid != os.getpid() or self._id is None:
                return
            lease_id, self._id = self._id, None
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
        try:
            self.client.revoke_lease(lease_id)
        except (errors.SockdError, OSError):
            pass  # gone already, or sockd is: either way the sockets are


_leases = []
exiting = False  # set at exit: sockets are closed by revoking, not one by one


def register(lease):
    """Revoke `lease` when the interpreter exits."""
    _leases.append(lease)


@atexit.register
def _revoke_all():
    global exiting
    exiting = True
    for lease in _leases:
        try:
            lease.revoke()
        except BaseException:
            pass
