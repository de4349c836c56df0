"""The low-level client: every RPC against a real sockd, with the standard
socket module as the peer."""

import socket as real_socket
import time
import unittest

import harness

import sockd
from sockd.client import duration, format_address, parse_address, parse_duration


def implemented(f, *args):
    """Runs f, skipping the test if this sockd does not have the call yet."""
    try:
        return f(*args)
    except sockd.SockdError as e:
        if e.code == 12:
            raise unittest.SkipTest("this sockd does not implement %s yet" % f.__name__)
        raise


class HelpersTest(unittest.TestCase):
    def test_durations(self):
        self.assertEqual(duration(5), "5s")
        self.assertEqual(duration(1.5), "1.5s")
        self.assertEqual(duration(0.000001), "0.000001s")
        self.assertEqual(duration(0), "0s")
        self.assertIsNone(duration(None))
        self.assertRaises(ValueError, duration, -1)
        self.assertEqual(parse_duration("3600s"), 3600.0)
        self.assertEqual(parse_duration("0.250s"), 0.25)
        self.assertIsNone(parse_duration(""))

    def test_addresses(self):
        self.assertEqual(format_address("127.0.0.1", 80), "127.0.0.1:80")
        self.assertEqual(format_address("::1", 80), "[::1]:80")
        self.assertEqual(parse_address("[::1]:80"), ("::1", 80))
        self.assertEqual(parse_address("localhost:8090"), ("localhost", 8090))
        self.assertEqual(parse_address(""), ("", 0))


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = harness.client()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def setUp(self):
        self.ids = []

    def tearDown(self):
        for i in self.ids:
            try:
                self.c.close_socket(i)
            except sockd.SockdError:
                pass

    def keep(self, s):
        self.ids.append(s["id"])
        return s

    def test_create_with_every_step(self):
        lst = self.keep(self.c.create_socket(name="py-lst", labels={"suite": "py-client"},
                                             options={"SO_REUSEADDR": 1}, bind_address="127.0.0.1:0", backlog=5))
        self.assertEqual(lst["state"], "STATE_LISTENING")
        self.assertEqual(lst["labels"], {"suite": "py-client"})
        host, port = parse_address(lst["localAddress"])
        self.assertEqual(host, "127.0.0.1")
        self.assertNotEqual(port, 0)
        self.assertEqual(self.c.get_option("py-lst", "SO_REUSEADDR"), 1)
        conn = self.keep(self.c.create_socket(connect_address=lst["localAddress"], connect_timeout=5, timeout=2))
        self.assertEqual(conn["state"], "STATE_CONNECTED")
        self.assertEqual(conn["remoteAddress"], lst["localAddress"])
        self.assertEqual(conn["timeout"], "2s")
        acc = self.keep(self.c.accept("py-lst", timeout=5, name="py-acc"))
        self.assertEqual(acc["parentId"], lst["id"])
        self.assertEqual(acc["name"], "py-acc")
        self.assertEqual(self.c.get_socket("py-acc")["remoteAddress"], conn["localAddress"])

    def test_list_and_iterate(self):
        for i in range(5):
            self.keep(self.c.create_socket(labels={"suite": "py-list", "n": str(i)}))
        page = self.c.list_sockets(label_selector="suite=py-list", page_size=2)
        self.assertEqual(len(page["sockets"]), 2)
        self.assertTrue(page["nextPageToken"])
        every = list(self.c.iter_sockets(label_selector="suite=py-list"))
        self.assertEqual(sorted(s["labels"]["n"] for s in every), ["0", "1", "2", "3", "4"])
        self.assertEqual(len(list(self.c.iter_sockets(label_selector="suite=py-list,n=3"))), 1)

    def test_tcp_data_with_a_real_peer(self):
        with real_socket.socket() as peer_lst:
            peer_lst.bind(("127.0.0.1", 0))
            peer_lst.listen()
            s = self.keep(self.c.create_socket())
            self.c.connect(s["id"], "127.0.0.1:%d" % peer_lst.getsockname()[1], timeout=5)
            peer, _ = peer_lst.accept()
            with peer:
                sent = self.c.send(s["id"], b"hello\x00world", all=True, offset=0)
                self.assertEqual(sent.bytes_sent, 11)
                got = b""
                while len(got) < 11:
                    got += peer.recv(100)
                self.assertEqual(got, b"hello\x00world")
                peer.sendall(b"abcdef")
                r = self.c.recv(s["id"], 3, timeout=5, peek=True)
                self.assertEqual(r.data, b"abc")
                r = self.c.recv(s["id"], 6, timeout=5, wait_all=True)
                self.assertEqual(r.data, b"abcdef")
                self.assertFalse(r.eof)
                with self.assertRaises(BlockingIOError):
                    self.c.recv(s["id"], 1, timeout=0)
                self.c.shutdown(s["id"], "write")
                self.assertEqual(peer.recv(10), b"")
                peer.close()
                r = self.c.recv(s["id"], 10, timeout=5)
                self.assertTrue(r.eof)
                self.assertEqual(r.data, b"")

    def test_udp_datagrams(self):
        with real_socket.socket(real_socket.AF_INET, real_socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.settimeout(5)
            u = self.keep(self.c.create_socket(protocol="udp", bind_address="127.0.0.1:0"))
            n = self.c.send_to(u["id"], "127.0.0.1:%d" % peer.getsockname()[1], b"ping")
            self.assertEqual(n, 4)
            data, addr = peer.recvfrom(100)
            self.assertEqual(data, b"ping")
            self.assertEqual("%s:%d" % addr, u["localAddress"])
            peer.sendto(b"0123456789", addr)
            r = self.c.recv_from(u["id"], 4, timeout=5)
            self.assertEqual(r.data, b"0123")
            self.assertTrue(r.truncated)
            self.assertEqual(r.address, "127.0.0.1:%d" % peer.getsockname()[1])

    def test_options_and_timeout(self):
        s = self.keep(self.c.create_socket())
        self.assertEqual(self.c.set_option(s["id"], "TCP_NODELAY", 1), 1)
        self.assertEqual(self.c.get_option(s["id"], "tcp_nodelay"), 1)
        self.assertEqual(self.c.set_option(s["id"], "SO_LINGER", 3), 3)
        got = self.c.set_option(s["id"], "SO_RCVBUF", 65536)
        self.assertGreaterEqual(got, 65536)  # the kernel doubles it
        self.assertEqual(self.c.set_timeout(s["id"], 1.5)["timeout"], "1.500s")
        self.assertNotIn("timeout", self.c.set_timeout(s["id"], None))

    def test_close_twice_is_not_found(self):
        s = self.c.create_socket()
        self.assertEqual(self.c.close_socket(s["id"])["state"], "STATE_CLOSED")
        with self.assertRaises(sockd.SockdError) as cm:
            self.c.close_socket(s["id"])
        self.assertEqual(cm.exception.reason, "SOCKET_NOT_FOUND")

    def test_watch_events(self):
        s = self.keep(self.c.create_socket(labels={"suite": "py-watch"}))
        events = []
        with self.c.watch_events(label_selector="suite=py-watch", since=0) as stream:
            def read():
                for ev in stream:
                    events.append(ev)
                    if ev.get("kind") == "EVENT_KIND_BOUND":
                        return
            t = harness.start(read)
            self.c.bind(s["id"], "127.0.0.1:0")
            t.join(10)
        kinds = [e["kind"] for e in events]
        self.assertIn("EVENT_KIND_CREATED", kinds)
        self.assertEqual(kinds[-1], "EVENT_KIND_BOUND")

    def test_stream_close_from_another_thread(self):
        stream = self.c.watch_events(label_selector="suite=nothing-ever")
        t = harness.start(lambda: list(stream))
        time.sleep(0.1)
        stream.close()
        self.assertEqual(t.join(10), [])

    def test_leases(self):
        lease = self.c.create_lease(5)
        self.assertEqual(lease["ttl"], "5s")
        s = self.c.create_socket(lease_id=lease["id"], bind_address="127.0.0.1:0")
        self.assertEqual(s["leaseId"], lease["id"])
        with self.c.keep_alive_lease(lease["id"]) as ka:
            first = next(ka)
            self.assertEqual(first["id"], lease["id"])
        revoked = self.c.revoke_lease(lease["id"])
        self.assertEqual(revoked["id"], lease["id"])
        with self.assertRaises(sockd.SockdError) as cm:
            self.c.get_socket(s["id"])
        self.assertEqual(cm.exception.reason, "SOCKET_NOT_FOUND")
        with self.assertRaises(sockd.SockdError) as cm:
            self.c.revoke_lease(lease["id"])
        self.assertEqual(cm.exception.reason, "LEASE_NOT_FOUND")

    def test_get_and_list_leases(self):
        lease = self.c.create_lease(5)
        try:
            got = implemented(self.c.get_lease, lease["id"])
            self.assertEqual(got["id"], lease["id"])
            ids = [l["id"] for l in implemented(self.c.list_leases).get("leases", [])]
            self.assertIn(lease["id"], ids)
        finally:
            self.c.revoke_lease(lease["id"])

    def test_server_info(self):
        info = implemented(self.c.get_server_info)
        self.assertTrue(info.get("version"))
        self.assertGreater(int(info["limits"]["maxCallBytes"]), 0)
        self.assertIn("SO_REUSEADDR", info.get("socketOptions", []))

    def test_capture_and_replay(self):
        with real_socket.socket() as lst:
            lst.bind(("127.0.0.1", 0))
            lst.listen()
            lst.settimeout(10)
            addr = "127.0.0.1:%d" % lst.getsockname()[1]
            s = self.keep(self.c.create_socket(connect_address=addr, capture={"enabled": True}))
            peer, _ = lst.accept()
            with peer:
                self.c.send(s["id"], b"recorded bytes", all=True)
                self.assertEqual(peer.recv(100), b"recorded bytes")
            self.assertEqual(self.c.get_socket(s["id"])["capture"]["bytes"], "14")
            pcapng = implemented(self.c.read_capture, [s["id"]])
            self.assertEqual(pcapng[:4], b"\x0a\x0d\x0d\x0a")  # a pcapng section header
            self.assertIn(b"recorded bytes", pcapng)
            self.c.set_capture(s["id"], enabled=False)
            result = implemented(self.c.replay, pcapng, addr, "client", None, True, None, 5)
            self.assertEqual(result["bytesSent"], "14")
            again, _ = lst.accept()
            with again:
                self.assertEqual(again.recv(100), b"recorded bytes")

    def test_concurrent_blocking_calls_use_their_own_connections(self):
        # A blocking accept holds its HTTP connection; other calls go on.
        lst = self.keep(self.c.create_socket(bind_address="127.0.0.1:0", backlog=5))
        t = harness.start(self.c.accept, lst["id"], 10)
        for _ in range(5):
            self.c.get_socket(lst["id"])
        peer = real_socket.create_connection(parse_address(lst["localAddress"]))
        with peer:
            acc = self.keep(t.join(10))
        self.assertEqual(acc["parentId"], lst["id"])


if __name__ == "__main__":
    unittest.main()
