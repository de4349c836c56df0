"""sockd.socket as a drop-in socket module: TCP and UDP, IPv4 and IPv6,
against real peers made with the standard socket module."""

import errno
import io
import socket as real
import struct
import textwrap
import time
import unittest

import harness

from sockd import socket as ssock


def setUpModule():
    harness.shared()


class Base:
    FAMILY = real.AF_INET
    HOST = "127.0.0.1"

    def setUp(self):
        if self.FAMILY == real.AF_INET6:
            harness.need(harness.has_ipv6(), "IPv6 loopback (::1) is not available here")
        self.closers = []

    def tearDown(self):
        for c in reversed(self.closers):
            try:
                c.close()
            except OSError:
                pass

    def keep(self, s):
        self.closers.append(s)
        return s

    def real_listener(self):
        s = self.keep(real.socket(self.FAMILY, real.SOCK_STREAM))
        s.bind((self.HOST, 0))
        s.listen()
        s.settimeout(10)
        return s

    def sockd_listener(self, backlog=5):
        s = self.keep(ssock.socket(self.FAMILY, ssock.SOCK_STREAM))
        s.bind((self.HOST, 0))
        s.listen(backlog)
        return s

    def addr(self, port):
        return (self.HOST, port)


class TCPTests(Base):
    def test_server_with_a_real_client(self):
        lst = self.sockd_listener()
        name = lst.getsockname()
        self.assertEqual(name[0], self.HOST)
        self.assertNotEqual(name[1], 0)
        if self.FAMILY == real.AF_INET6:
            self.assertEqual(len(name), 4)
        peer = self.keep(real.create_connection(name[:2], timeout=10))
        conn, addr = lst.accept()
        self.keep(conn)
        self.assertIsInstance(conn, ssock.socket)
        self.assertEqual(addr[:2], peer.getsockname()[:2])
        self.assertEqual(conn.getpeername()[:2], peer.getsockname()[:2])
        self.assertEqual(conn.getsockname()[:2], name[:2])
        self.assertEqual((conn.family, conn.type), (self.FAMILY, real.SOCK_STREAM))
        peer.sendall(b"x" * 100000)
        got = b""
        while len(got) < 100000:
            chunk = conn.recv(65536)
            self.assertTrue(chunk)
            got += chunk
        self.assertEqual(got, b"x" * 100000)
        conn.sendall(b"bye\n")
        self.assertEqual(peer.recv(10), b"bye\n")
        peer.close()
        self.assertEqual(conn.recv(10), b"")

    def test_client_with_a_real_server(self):
        lst = self.real_listener()
        with ssock.socket(self.FAMILY, ssock.SOCK_STREAM) as c:
            self.assertEqual(c.connect_ex(lst.getsockname()[:2]), 0)
            peer, _ = lst.accept()
            self.keep(peer)
            self.assertEqual(c.getpeername()[:2], lst.getsockname()[:2])
            self.assertEqual(c.getsockname()[:2], peer.getpeername()[:2])
            self.assertEqual(c.send(b"hello"), 5)
            self.assertEqual(peer.recv(10), b"hello")
            peer.sendall(b"0123456789")
            buf = bytearray(4)
            self.assertEqual(c.recv_into(buf), 4)
            self.assertEqual(bytes(buf), b"0123")
            self.assertEqual(c.recv(3, ssock.MSG_PEEK), b"456")
            data, addr = c.recvfrom(10)
            self.assertEqual(data[:3], b"456")
            self.assertIsNone(addr)
            c.shutdown(ssock.SHUT_WR)
            self.assertEqual(peer.recv(10), b"")
        self.assertEqual(c.fileno(), -1)
        with self.assertRaises(OSError) as cm:
            c.send(b"x")
        self.assertEqual(cm.exception.errno, errno.EBADF)

    def test_wait_all(self):
        lst = self.real_listener()
        c = self.keep(ssock.create_connection(lst.getsockname()[:2]))
        peer, _ = lst.accept()
        self.keep(peer)

        def trickle():
            for b in (b"ab", b"cd", b"ef"):
                time.sleep(0.05)
                peer.sendall(b)
        t = harness.start(trickle)
        self.assertEqual(c.recv(6, ssock.MSG_WAITALL), b"abcdef")
        t.join()

    def test_connect_refused(self):
        port = harness.free_port(self.HOST, self.FAMILY)
        s = self.keep(ssock.socket(self.FAMILY))
        with self.assertRaises(ConnectionRefusedError) as cm:
            s.connect(self.addr(port))
        self.assertEqual(cm.exception.errno, errno.ECONNREFUSED)
        self.assertEqual(s.connect_ex(self.addr(port)), errno.ECONNREFUSED)
        # The socket stays usable, as after a failed connect(2).
        lst = self.real_listener()
        self.assertEqual(s.connect_ex(lst.getsockname()[:2]), 0)

    def test_address_in_use(self):
        taken = self.real_listener()
        s = self.keep(ssock.socket(self.FAMILY))
        with self.assertRaises(OSError) as cm:
            s.bind(taken.getsockname()[:2])
        self.assertEqual(cm.exception.errno, errno.EADDRINUSE)
        s.bind((self.HOST, 0))  # and then another bind works
        self.assertNotEqual(s.getsockname()[1], 0)

    def test_reuseaddr_before_bind(self):
        # Linux lets a port in TIME_WAIT be bound again when both the old
        # and the new socket set SO_REUSEADDR before bind.
        lst = self.keep(ssock.socket(self.FAMILY))
        lst.setsockopt(ssock.SOL_SOCKET, ssock.SO_REUSEADDR, 1)
        lst.bind((self.HOST, 0))
        lst.listen()
        port = lst.getsockname()[1]
        peer = self.keep(real.create_connection(lst.getsockname()[:2]))
        conn, _ = lst.accept()
        conn.close()  # the accepted side closes first: its port is in TIME_WAIT
        peer.close()
        lst.close()
        with real.socket(self.FAMILY) as plain:
            with self.assertRaises(OSError):
                plain.bind((self.HOST, port))  # without it: EADDRINUSE
        s = self.keep(ssock.socket(self.FAMILY))
        s.setsockopt(ssock.SOL_SOCKET, ssock.SO_REUSEADDR, 1)
        s.bind((self.HOST, port))
        self.assertEqual(s.getsockname()[1], port)
        self.assertEqual(s.getsockopt(ssock.SOL_SOCKET, ssock.SO_REUSEADDR), 1)

    def test_timeouts(self):
        lst = self.sockd_listener()
        lst.settimeout(0.1)
        self.assertEqual(lst.gettimeout(), 0.1)
        self.assertTrue(lst.getblocking())
        t0 = time.monotonic()
        with self.assertRaises(ssock.timeout) as cm:
            lst.accept()
        self.assertGreaterEqual(time.monotonic() - t0, 0.09)
        self.assertIsInstance(cm.exception, real.timeout)
        self.assertEqual(str(cm.exception), "timed out")
        lst.setblocking(False)
        self.assertEqual(lst.gettimeout(), 0.0)
        self.assertFalse(lst.getblocking())
        with self.assertRaises(BlockingIOError) as cm:
            lst.accept()
        self.assertEqual(cm.exception.errno, errno.EAGAIN)
        lst.settimeout(None)
        self.assertIsNone(lst.gettimeout())
        self.assertRaises(ValueError, lst.settimeout, -1)
        self.assertRaises(TypeError, lst.settimeout, "x")
        peer = self.keep(real.create_connection(lst.getsockname()[:2]))
        conn, _ = lst.accept()
        self.keep(conn)
        conn.settimeout(0.1)
        with self.assertRaises(ssock.timeout):
            conn.recv(10)
        conn.setblocking(False)
        with self.assertRaises(BlockingIOError):
            conn.recv(10)
        peer.sendall(b"late")
        conn.settimeout(5)
        self.assertEqual(conn.recv(10), b"late")

    def test_nonblocking_connect(self):
        lst = self.real_listener()
        s = self.keep(ssock.socket(self.FAMILY))
        s.setblocking(False)
        try:
            s.connect(lst.getsockname()[:2])
        except BlockingIOError as e:
            self.assertEqual(e.errno, errno.EINPROGRESS)
        peer, _ = lst.accept()
        self.keep(peer)
        s.setblocking(True)
        self.assertIn(s.connect_ex(lst.getsockname()[:2]), (0, errno.EISCONN))
        s.sendall(b"hi")
        self.assertEqual(peer.recv(2), b"hi")

    def test_sendall_big_with_timeout(self):
        lst = self.real_listener()
        c = self.keep(ssock.create_connection(lst.getsockname()[:2], timeout=30))
        peer, _ = lst.accept()
        self.keep(peer)
        data = bytes(range(256)) * (5 << 12)  # 5 MiB: more than one call's limit
        got = []
        t = harness.start(lambda: got.append(_read_n(peer, len(data))))
        self.assertIsNone(c.sendall(data))
        t.join(60)
        self.assertEqual(got[0], data)

    def test_sendall_times_out_when_the_peer_does_not_read(self):
        lst = self.real_listener()
        c = self.keep(ssock.create_connection(lst.getsockname()[:2]))
        peer, _ = lst.accept()
        self.keep(peer)
        c.settimeout(0.5)
        with self.assertRaises(ssock.timeout):
            c.sendall(b"x" * (32 << 20))
        # What did go out before the timeout is counted, so the stream goes
        # on from there: the peer gets some x's, then exactly "END".
        c.settimeout(30)
        t = harness.start(c.sendall, b"END")
        got = bytearray()
        while not got.endswith(b"END"):
            chunk = peer.recv(1 << 20)
            self.assertTrue(chunk, "EOF before END")
            got += chunk
        t.join()
        direct = harness.client()
        self.addCleanup(direct.close)
        written = int(direct.get_socket(c.sockd_id)["bytesSent"])
        self.assertEqual(len(got), written)
        self.assertEqual(bytes(got), b"x" * (written - 3) + b"END")

    def test_options(self):
        s = self.keep(ssock.socket(self.FAMILY))
        s.setsockopt(ssock.IPPROTO_TCP, ssock.TCP_NODELAY, 1)
        s.setsockopt(ssock.SOL_SOCKET, ssock.SO_KEEPALIVE, True)
        s.setsockopt(ssock.SOL_SOCKET, ssock.SO_LINGER, struct.pack("ii", 1, 7))
        self.assertEqual(s.getsockopt(ssock.IPPROTO_TCP, ssock.TCP_NODELAY), 1)
        self.assertEqual(s.getsockopt(ssock.SOL_SOCKET, ssock.SO_KEEPALIVE), 1)
        self.assertEqual(struct.unpack("ii", s.getsockopt(ssock.SOL_SOCKET, ssock.SO_LINGER, 8)), (1, 7))
        self.assertEqual(s.getsockopt(ssock.SOL_SOCKET, ssock.SO_TYPE), ssock.SOCK_STREAM)
        self.assertEqual(s.getsockopt(ssock.SOL_SOCKET, ssock.SO_ERROR), 0)
        s.setsockopt(ssock.SOL_SOCKET, ssock.SO_RCVBUF, 65536)
        self.assertGreaterEqual(s.getsockopt(ssock.SOL_SOCKET, ssock.SO_RCVBUF), 65536)
        with self.assertRaises(OSError) as cm:
            s.setsockopt(ssock.SOL_SOCKET, 9999, 1)
        self.assertEqual(cm.exception.errno, errno.ENOPROTOOPT)

    def test_linger_zero_resets_the_peer(self):
        lst = self.real_listener()
        c = ssock.create_connection(lst.getsockname()[:2])
        peer, _ = lst.accept()
        self.keep(peer)
        c.setsockopt(ssock.SOL_SOCKET, ssock.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        with self.assertRaises(ConnectionResetError):
            peer.recv(10)

    def test_reset_by_peer_is_connection_reset(self):
        lst = self.real_listener()
        c = self.keep(ssock.create_connection(lst.getsockname()[:2]))
        peer, _ = lst.accept()
        peer.setsockopt(real.SOL_SOCKET, real.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()
        with self.assertRaises(ConnectionResetError) as cm:
            c.recv(10)
        self.assertEqual(cm.exception.errno, errno.ECONNRESET)

    def test_makefile(self):
        lst = self.sockd_listener()
        peer = self.keep(real.create_connection(lst.getsockname()[:2]))
        conn, _ = lst.accept()
        self.keep(conn)
        rf = conn.makefile("r", encoding="utf-8", newline="")
        wf = conn.makefile("wb")
        conn.close()  # the files keep the socket open, as in the standard module
        peer.sendall("line one\r\nlíne two\r\n".encode())
        self.assertEqual(rf.readline(), "line one\r\n")
        self.assertEqual(rf.readline(), "líne two\r\n")
        wf.write(b"buffered ")
        wf.write(b"bytes")
        wf.flush()
        self.assertEqual(_read_n(peer, 14), b"buffered bytes")
        peer.close()
        self.assertEqual(rf.read(), "")
        rf.close()
        wf.close()
        self.assertEqual(conn.fileno(), -1)

    def test_makefile_binary_unbuffered_and_rw(self):
        lst = self.real_listener()
        c = self.keep(ssock.create_connection(lst.getsockname()[:2]))
        peer, _ = lst.accept()
        self.keep(peer)
        raw = c.makefile("rwb", buffering=0)
        self.assertIsInstance(raw, io.RawIOBase)
        raw.write(b"ping")
        self.assertEqual(peer.recv(4), b"ping")
        peer.sendall(b"pong")
        self.assertEqual(raw.read(4), b"pong")
        rw = c.makefile("rw")
        rw.write("text\n")
        rw.flush()
        self.assertEqual(peer.recv(5), b"text\n")
        rw.close()
        raw.close()

    def test_create_server_and_connection(self):
        srv = self.keep(ssock.create_server((self.HOST, 0), family=self.FAMILY, backlog=3))
        self.assertEqual(srv.getsockopt(ssock.SOL_SOCKET, ssock.SO_REUSEADDR), 1)
        self.assertEqual(srv.getsockopt(ssock.SOL_SOCKET, ssock.SO_ACCEPTCONN), 1)
        c = self.keep(ssock.create_connection(srv.getsockname()[:2], timeout=5))
        self.assertEqual(c.gettimeout(), 5)
        conn, _ = srv.accept()
        self.keep(conn)
        c.sendall(b"x")
        self.assertEqual(conn.recv(1), b"x")
        with self.assertRaises(OSError) as cm:
            ssock.create_server(srv.getsockname()[:2], family=self.FAMILY)
        self.assertEqual(cm.exception.errno, errno.EADDRINUSE)

    def test_close_listener_keeps_accepted(self):
        lst = self.sockd_listener()
        peer = self.keep(real.create_connection(lst.getsockname()[:2]))
        conn, _ = lst.accept()
        self.keep(conn)
        lst.close()
        peer.sendall(b"still here")
        self.assertEqual(conn.recv(20), b"still here")

    def test_dup_and_detach(self):
        lst = self.real_listener()
        c = ssock.create_connection(lst.getsockname()[:2])
        peer, _ = lst.accept()
        self.keep(peer)
        d = c.dup()
        c.close()
        d.sendall(b"via dup")
        self.assertEqual(peer.recv(10), b"via dup")
        fd = d.detach()
        e = self.keep(ssock.socket(fileno=fd))
        self.assertEqual(e.fileno(), fd)
        e.sendall(b"!")
        self.assertEqual(peer.recv(1), b"!")


class UDPTests(Base):
    def real_peer(self):
        p = self.keep(real.socket(self.FAMILY, real.SOCK_DGRAM))
        p.bind((self.HOST, 0))
        p.settimeout(10)
        return p

    def test_sendto_recvfrom(self):
        peer = self.real_peer()
        u = self.keep(ssock.socket(self.FAMILY, ssock.SOCK_DGRAM))
        self.assertEqual(u.sendto(b"ping", peer.getsockname()[:2]), 4)
        data, addr = peer.recvfrom(100)
        self.assertEqual(data, b"ping")
        self.assertEqual(u.getsockname()[:2], addr[:2])  # bound implicitly
        peer.sendto(b"pong", addr)
        data, src = u.recvfrom(100)
        self.assertEqual(data, b"pong")
        self.assertEqual(src[:2], peer.getsockname()[:2])
        peer.sendto(b"0123456789", addr)
        buf = bytearray(20)
        n, src = u.recvfrom_into(buf)
        self.assertEqual(bytes(buf[:n]), b"0123456789")
        peer.sendto(b"A" * 10, addr)
        self.assertEqual(u.recv(4), b"AAAA")  # truncated, as recv(2)
        self.assertEqual(u.sendto(b"x", 0, peer.getsockname()[:2]), 1)
        self.assertEqual(peer.recv(10), b"x")

    def test_boundaries_and_connected_udp(self):
        peer = self.real_peer()
        u = self.keep(ssock.socket(self.FAMILY, ssock.SOCK_DGRAM))
        u.bind((self.HOST, 0))
        u.connect(peer.getsockname()[:2])
        self.assertEqual(u.getpeername()[:2], peer.getsockname()[:2])
        for m in (b"one", b"two", b"three"):
            u.send(m)
        self.assertEqual([peer.recv(100) for _ in range(3)], [b"one", b"two", b"three"])
        for m in (b"a", b"bb"):
            peer.sendto(m, u.getsockname()[:2])
        self.assertEqual(u.recv(100), b"a")
        self.assertEqual(u.recv(100), b"bb")

    def test_udp_timeouts(self):
        u = self.keep(ssock.socket(self.FAMILY, ssock.SOCK_DGRAM))
        u.bind((self.HOST, 0))
        u.settimeout(0.1)
        with self.assertRaises(ssock.timeout):
            u.recvfrom(10)
        u.setblocking(False)
        with self.assertRaises(BlockingIOError):
            u.recv(10)

    def test_udp_send_needs_a_destination(self):
        u = self.keep(ssock.socket(self.FAMILY, ssock.SOCK_DGRAM))
        u.bind((self.HOST, 0))
        with self.assertRaises(OSError) as cm:
            u.send(b"x")
        self.assertEqual(cm.exception.errno, errno.EDESTADDRREQ)
        with self.assertRaises(OSError) as cm:
            u.listen()
        self.assertEqual(cm.exception.errno, errno.EOPNOTSUPP)


class TCP4(TCPTests, unittest.TestCase):
    pass


class TCP6(TCPTests, unittest.TestCase):
    FAMILY = real.AF_INET6
    HOST = "::1"


class UDP4(UDPTests, unittest.TestCase):
    pass


class UDP6(UDPTests, unittest.TestCase):
    FAMILY = real.AF_INET6
    HOST = "::1"


class ModuleTests(unittest.TestCase):
    def test_constants_are_the_standard_ones(self):
        for name in ("AF_INET", "AF_INET6", "SOCK_STREAM", "SOCK_DGRAM", "SOL_SOCKET", "SO_REUSEADDR",
                     "SO_LINGER", "IPPROTO_TCP", "TCP_NODELAY", "SHUT_RDWR", "MSG_PEEK", "SOMAXCONN",
                     "AI_PASSIVE", "has_ipv6"):
            self.assertEqual(getattr(ssock, name), getattr(real, name), name)
        self.assertIs(ssock.timeout, real.timeout)
        self.assertIs(ssock.gaierror, real.gaierror)
        self.assertIs(ssock.error, OSError)
        self.assertIs(ssock.SocketType, ssock.socket)

    def test_what_cannot_be_remote(self):
        with self.assertRaises(OSError) as cm:
            ssock.socket(real.AF_UNIX, real.SOCK_STREAM)
        self.assertEqual(cm.exception.errno, errno.EAFNOSUPPORT)
        self.assertIn("cannot be remote", str(cm.exception))
        with self.assertRaises(OSError):
            ssock.socket(real.AF_INET, real.SOCK_RAW)
        s = ssock.socket()
        with s:
            with self.assertRaises(OSError) as cm:
                s.sendmsg([b"x"], [(real.SOL_SOCKET, real.SCM_RIGHTS, b"\0\0\0\0")])
            self.assertIn("ancillary", str(cm.exception))
            fd = s.fileno()
            self.assertGreaterEqual(fd, 1 << 30)
            with self.assertRaises(OSError):
                real.socket(fileno=fd)  # the real module cannot use it
            import os
            with self.assertRaises(OSError):
                os.fstat(fd)

    def test_socketpair_is_tcp_on_sockd(self):
        a, b = ssock.socketpair()
        with a, b:
            a.sendall(b"x")
            self.assertEqual(b.recv(1), b"x")

    def test_getaddrinfo(self):
        got = ssock.getaddrinfo("127.0.0.1", 80, type=ssock.SOCK_STREAM)
        self.assertEqual(got, [(real.AF_INET, real.SOCK_STREAM, real.IPPROTO_TCP, "", ("127.0.0.1", 80))])
        got = ssock.getaddrinfo(None, "http", ssock.AF_INET, ssock.SOCK_STREAM, 0, ssock.AI_PASSIVE)
        self.assertEqual(got[0][4], ("0.0.0.0", 80))
        got = ssock.getaddrinfo("localhost", 8080, type=ssock.SOCK_STREAM)
        self.assertIn(("127.0.0.1", 8080), [ai[4] for ai in got])
        with self.assertRaises(ssock.gaierror):
            ssock.getaddrinfo("no-such-host.invalid", 80)
        self.assertEqual(ssock.gethostbyname("localhost"), "127.0.0.1")
        self.assertEqual(ssock.getaddrinfo("::1", 1, ssock.AF_INET6)[0][4], ("::1", 1, 0, 0))

    def test_localhost_names_resolve_on_sockd(self):
        with ssock.create_server(("localhost", 0)) as srv:
            self.assertEqual(srv.getsockname()[0], "127.0.0.1")
            with ssock.create_connection(("localhost", srv.getsockname()[1])) as c:
                self.assertEqual(c.getpeername(), srv.getsockname())

    def test_address_errors_as_the_standard_module(self):
        s = ssock.socket()
        with s:
            self.assertRaises(OverflowError, s.bind, ("127.0.0.1", 70000))
            self.assertRaises(TypeError, s.bind, ("127.0.0.1",))
            self.assertRaises(TypeError, s.bind, "127.0.0.1:80")
            self.assertRaises(ValueError, s.recv, -1)
            self.assertEqual(s.getsockname(), ("0.0.0.0", 0))
            with self.assertRaises(OSError) as cm:
                s.getpeername()
            self.assertEqual(cm.exception.errno, errno.ENOTCONN)
            with self.assertRaises(OSError) as cm:
                s.recv(1)
            self.assertEqual(cm.exception.errno, errno.ENOTCONN)
            s.bind(("127.1", 0))  # inet_aton spellings, as the standard module
            self.assertEqual(s.getsockname()[0], "127.0.0.1")
        with self.assertRaises(OSError) as cm:
            s.getsockname()
        self.assertEqual(cm.exception.errno, errno.EBADF)
        s.close()  # closing again is fine

    def test_policy_refusal_is_permission_error(self):
        # The shared sockd has the default policy: no wildcard binds.
        s = ssock.socket()
        with s:
            with self.assertRaises(PermissionError) as cm:
                s.bind(("", 0))
            self.assertEqual(cm.exception.reason, "POLICY_DENIED")
            self.assertIn("POLICY_DENIED", str(cm.exception))

    def test_threads_share_nothing_but_sockd(self):
        srv = ssock.create_server(("127.0.0.1", 0))
        with srv:
            def client(i):
                with ssock.create_connection(srv.getsockname()) as c:
                    c.sendall(b"%d" % i)
                    return c.recv(10)
            threads = [harness.start(client, i) for i in range(8)]
            for _ in range(8):
                conn, _ = srv.accept()
                with conn:
                    conn.sendall(conn.recv(10) * 2)
            self.assertEqual(sorted(t.join() for t in threads), sorted(b"%d%d" % (i, i) for i in range(8)))

    def test_unclosed_sockets_are_closed_when_collected(self):
        c = harness.client()
        self.addCleanup(c.close)
        s = ssock.create_server(("127.0.0.1", 0))
        sid = s.sockd_id
        import gc
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            del s
            gc.collect()
        gone = harness.wait_until(lambda: _gone(c, sid), 10)
        self.assertTrue(gone, "the collected socket is still open on sockd")


def _gone(c, sid):
    import sockd
    try:
        c.get_socket(sid)
        return False
    except sockd.SockdError as e:
        return e.reason == "SOCKET_NOT_FOUND"


def _read_n(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


if __name__ == "__main__":
    unittest.main()


class RESTCallLimitTest(unittest.TestCase):
    """A blocking call outlives sockd's REST call limit (--rest-call-timeout):
    the module asks again, as a blocking socket waits."""

    def test_blocking_calls_outlive_the_rest_call_timeout(self):
        d = harness.Sockd("--rest-call-timeout", "1s")
        self.addCleanup(d.stop)
        prog = textwrap.dedent("""
            import socket, sys
            srv = socket.create_server(("127.0.0.1", 0))
            print(srv.getsockname()[1], flush=True)
            conn, _ = srv.accept()          # waits longer than sockd's limit
            print("accepted", flush=True)
            print(conn.recv(100).decode(), flush=True)   # and again
        """)
        import subprocess
        import sys
        p = subprocess.Popen([sys.executable, "-u", "-c", "import sockd; sockd.install()\n" + prog],
                             env=d.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait(), p.stdout.close(), p.stderr.close()))
        port = int(p.stdout.readline())
        time.sleep(2.5)
        with real.create_connection(("127.0.0.1", port), timeout=10) as c:
            self.assertEqual(p.stdout.readline().strip(), "accepted")
            time.sleep(2.5)
            c.sendall(b"late data")
            self.assertEqual(p.stdout.readline().strip(), "late data")
        self.assertEqual(p.wait(30), 0, p.stderr.read())
