"""Sockets die with the program: the process lease."""

import errno
import os
import signal
import socket as real
import subprocess
import sys
import time
import unittest

import harness

import sockd

HOLDER = r"""
import sys, time
from sockd import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], s.sockd_id, flush=True)
sys.stdin.readline()  # the test has looked: go on
how = sys.argv[1]
if how == "exit":
    sys.exit(0)
if how == "crash":
    raise RuntimeError("boom")
if how == "_exit":
    import os
    os._exit(3)
time.sleep(600)
"""


def port_free(port):
    with real.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            return False


class LeaseTest(unittest.TestCase):
    TTL = 2.0

    def setUp(self):
        self.d = harness.shared()
        self.c = harness.client()
        self.addCleanup(self.c.close)

    def holder(self, how):
        p = subprocess.Popen([sys.executable, "-c", HOLDER, how], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=self.d.env(SOCKD_LEASE_TTL=self.TTL))
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait(), p.stdin.close(), p.stdout.close(),
                                 p.stderr.close()))
        line = p.stdout.readline().split()
        self.assertEqual(len(line), 2, p.stderr.read() if p.poll() is not None else "no port printed")
        port, sid = int(line[0]), line[1]
        info = self.c.get_socket(sid)
        self.assertEqual(info["state"], "STATE_LISTENING")
        self.assertTrue(info.get("leaseId"), "the socket is not under a lease")
        p.stdin.write("go\n")
        p.stdin.flush()
        return p, port, sid, info["leaseId"]

    def gone(self, sid):
        try:
            self.c.get_socket(sid)
            return False
        except sockd.SockdError as e:
            return e.reason == "SOCKET_NOT_FOUND"

    def test_kill_9_frees_the_port_within_the_ttl(self):
        p, port, sid, lease = self.holder("sleep")
        self.assertFalse(port_free(port), "sockd should hold the port")
        killed = time.monotonic()
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        # Generous: the TTL, plus the time sockd takes to notice the broken
        # keep-alive and to reap (the machine is slow and shared).
        freed = harness.wait_until(lambda: port_free(port), self.TTL + 10)
        self.assertTrue(freed, "the port is still bound %.1fs after kill -9" % (time.monotonic() - killed))
        self.assertTrue(self.gone(sid))
        with self.assertRaises(sockd.SockdError):
            self.c.revoke_lease(lease)  # lapsed

    def test_exit_closes_at_once(self):
        for how in ("exit", "crash"):
            p, port, sid, lease = self.holder(how)
            p.wait(30)
            # Revoked by the exiting process itself: gone before it ended.
            self.assertTrue(self.gone(sid), how)
            self.assertTrue(port_free(port), how)

    def test_os_exit_lapses_after_the_ttl(self):
        p, port, sid, lease = self.holder("_exit")
        self.assertEqual(p.wait(30), 3)
        self.assertTrue(harness.wait_until(lambda: self.gone(sid), self.TTL + 10))

    def test_keep_alive_outlives_the_ttl(self):
        p, port, sid, lease = self.holder("sleep")
        time.sleep(self.TTL * 2)  # the idle program's lease is kept alive
        self.assertFalse(self.gone(sid))
        self.assertFalse(port_free(port))


if __name__ == "__main__":
    unittest.main()
