"""sockd.select and sockd.selectors: waiting on sockd sockets, alone and
together with local descriptors."""

import os
import select as real_select
import socket as real
import time
import unittest

import harness

from sockd import select as sselect
from sockd import selectors as sselectors
from sockd import socket as ssock


def setUpModule():
    harness.shared()


class SelectTest(unittest.TestCase):
    def setUp(self):
        self.srv = ssock.create_server(("127.0.0.1", 0))
        self.addCleanup(self.srv.close)
        self.r, self.w = os.pipe()
        self.addCleanup(os.close, self.r)
        self.addCleanup(os.close, self.w)

    def connect(self):
        c = real.create_connection(self.srv.getsockname(), timeout=10)
        self.addCleanup(c.close)
        return c

    def test_select_a_listener_then_accept(self):
        self.assertEqual(sselect.select([self.srv], [], [], 0), ([], [], []))
        peer = self.connect()
        r, w, x = sselect.select([self.srv], [], [], 10)
        self.assertEqual(r, [self.srv])
        conn, addr = self.srv.accept()  # the connection the wait took
        self.addCleanup(conn.close)
        self.assertEqual(addr, peer.getsockname())
        self.assertEqual(sselect.select([conn], [conn], [], 0), ([], [conn], []))
        peer.sendall(b"x")
        self.assertEqual(sselect.select([conn.fileno()], [], [], 10)[0], [conn.fileno()])
        self.assertEqual(conn.recv(1), b"x")  # select consumed nothing

    def test_select_mixes_local_and_remote(self):
        os.write(self.w, b"!")
        r, _, _ = sselect.select([self.srv, self.r], [], [], 10)
        self.assertEqual(r, [self.r])
        os.read(self.r, 1)
        self.connect()
        r, _, _ = sselect.select([self.srv, self.r], [], [], 10)
        self.assertEqual(r, [self.srv])

    def test_select_times_out(self):
        t0 = time.monotonic()
        self.assertEqual(sselect.select([self.srv, self.r], [], [], 0.2), ([], [], []))
        self.assertGreaterEqual(time.monotonic() - t0, 0.15)

    def test_poll(self):
        p = sselect.poll()
        p.register(self.srv, sselect.POLLIN)
        p.register(self.r, sselect.POLLIN)
        self.assertEqual(p.poll(0), [])
        self.connect()
        self.assertEqual(p.poll(10000), [(self.srv.fileno(), sselect.POLLIN)])
        p.unregister(self.srv)
        os.write(self.w, b"!")
        self.assertEqual(p.poll(10000), [(self.r, sselect.POLLIN)])

    def test_epoll_refuses_clearly(self):
        if not hasattr(sselect, "epoll"):
            self.skipTest("no epoll here")
        with sselect.epoll() as ep:
            with self.assertRaises(OSError) as cm:
                ep.register(self.srv.fileno(), sselect.EPOLLIN)
            self.assertIn("local descriptors only", str(cm.exception))
            ep.register(self.r, sselect.EPOLLIN)  # local ones are fine

    def test_the_real_select_rejects_the_pseudo_descriptor(self):
        with self.assertRaises((ValueError, OSError)):
            real_select.select([self.srv.fileno()], [], [], 0)

    def test_selector_with_several_sockets(self):
        sel = sselectors.DefaultSelector()
        self.addCleanup(sel.close)
        sel.register(self.srv, sselectors.EVENT_READ, "listener")
        sel.register(self.r, sselectors.EVENT_READ, "pipe")
        peers = [self.connect() for _ in range(2)]
        conns = []
        deadline = time.monotonic() + 20
        while len(conns) < 2 and time.monotonic() < deadline:
            for key, ev in sel.select(5):
                if key.data == "listener":
                    conn, _ = self.srv.accept()
                    self.addCleanup(conn.close)
                    conns.append(conn)
                    sel.register(conn, sselectors.EVENT_READ, "conn")
        self.assertEqual(len(conns), 2)
        self.assertEqual(len(sel.get_map()), 4)
        self.assertEqual(sel.get_key(self.srv).data, "listener")
        peers[1].sendall(b"two")
        ready = [(k.data, ev) for k, ev in sel.select(10)]
        self.assertEqual(ready, [("conn", sselectors.EVENT_READ)])
        self.assertEqual(conns[1].recv(10), b"two")
        sel.unregister(conns[0])
        with self.assertRaises(KeyError):
            sel.get_key(conns[0])


if __name__ == "__main__":
    unittest.main()
