"""Stream offsets: answers lost mid-call never lose or double a byte.

A CutProxy between the client and sockd drops the HTTP connection of chosen
Recv and Send calls after sockd has done them (or before it sees them); the
module's calls carry offsets and are retried, so what the real peer sends is
what the program receives, and what the program sends is what the peer
receives, byte for byte."""

import os
import socket as real
import unittest

import cutproxy
import harness

import sockd
from sockd import socket as ssock


def offsets_or_skip(c):
    try:
        info = c.get_server_info()
    except sockd.SockdError as e:
        harness.need(e.code != 12, "this sockd has no GetServerInfo, so no stream offsets, yet")
        raise
    retain = int(info.get("limits", {}).get("retainBytes", 0) or 0)
    harness.need(retain > 0, "this sockd retains no bytes for offsets (retainBytes is 0)")
    return info


class Base(unittest.TestCase):
    NEED_OFFSETS = True

    def setUp(self):
        self.d = harness.shared()
        self.direct = harness.client()
        self.addCleanup(self.direct.close)  # also when the test is skipped
        self.closers = []
        if self.NEED_OFFSETS:
            offsets_or_skip(self.direct)
        host, port = self.d.http.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.saved = (ssock._client, ssock._process_lease, ssock._limits)

    def tearDown(self):
        for c in reversed(self.closers):
            try:
                c.close()
            except OSError:
                pass
        if ssock._client is not self.saved[0]:
            ssock._process_lease.revoke()
            ssock._client.close()
        ssock._client, ssock._process_lease, ssock._limits = self.saved

    def through(self, cut, mode="response"):
        """Points sockd.socket at a CutProxy that loses what `cut` picks."""
        proxy = cutproxy.CutProxy(self.upstream, cut, mode)
        self.closers.append(proxy)
        ssock.configure(url=proxy.url)
        return proxy

    def real_pair(self):
        lst = real.socket()
        self.closers.append(lst)
        lst.bind(("127.0.0.1", 0))
        lst.listen()
        lst.settimeout(10)
        s = ssock.create_connection(lst.getsockname(), timeout=30)
        self.closers.append(s)
        peer, _ = lst.accept()
        peer.settimeout(30)
        self.closers.append(peer)
        return s, peer


class OffsetsTest(Base):
    def check_recv(self, mode):
        proxy = self.through(lambda n, m, p: p.endswith(":recv") and n % 3 == 0, mode)
        s, peer = self.real_pair()
        data = os.urandom(300 << 10)
        t = harness.start(lambda: (peer.sendall(data), peer.shutdown(real.SHUT_WR)))
        got = bytearray()
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        t.join()
        self.assertGreater(proxy.cuts, 5, "the proxy lost too few answers to test anything")
        self.assertEqual(len(got), len(data))
        self.assertTrue(bytes(got) == data, "the received stream differs from what the peer sent")
        self.assertGreater(proxy.count, 10)

    def test_recv_answers_lost(self):
        self.check_recv("response")

    def test_recv_requests_lost(self):
        self.check_recv("request")

    def check_send(self, mode):
        proxy = self.through(lambda n, m, p: p.endswith(":send") and n % 3 == 0, mode)
        s, peer = self.real_pair()
        chunks = [os.urandom(1000 + 97 * i) for i in range(60)]
        got = []
        t = harness.start(lambda: got.append(_read_all(peer)))
        for i, c in enumerate(chunks):
            if i % 2:
                s.sendall(c)
            else:
                view = memoryview(c)
                while view:
                    view = view[s.send(view):]
        s.shutdown(ssock.SHUT_WR)
        t.join(60)
        self.assertGreater(proxy.cuts, 5, "the proxy lost too few answers to test anything")
        want = b"".join(chunks)
        self.assertEqual(len(got[0]), len(want), "bytes were lost or written twice")
        self.assertTrue(got[0] == want, "the peer's stream differs from what was sent")

    def test_send_answers_lost(self):
        self.check_send("response")

    def test_send_requests_lost(self):
        self.check_send("request")



class ControlTest(Base):
    """The proxy does lose answers: without offsets, bytes are gone."""

    NEED_OFFSETS = False

    def test_without_offsets_a_lost_answer_loses_bytes(self):
        # The control: the same cut on a Recv without fromOffset loses what
        # sockd had taken from the kernel for the lost answer.
        proxy = cutproxy.CutProxy(self.upstream, lambda n, m, p: p.endswith(":recv") and n == 1)
        self.closers.append(proxy)
        lossy = sockd.Client(proxy.url)
        self.closers.append(lossy)
        lst = real.socket()
        self.closers.append(lst)
        lst.bind(("127.0.0.1", 0))
        lst.listen()
        sid = self.direct.create_socket(connect_address="127.0.0.1:%d" % lst.getsockname()[1])["id"]
        peer, _ = lst.accept()
        self.closers.append(peer)
        try:
            peer.sendall(b"first")
            with self.assertRaises(sockd.SockdConnectionError):
                lossy.recv(sid, 100, timeout=5)
            peer.sendall(b"second")
            self.assertEqual(self.direct.recv(sid, 100, timeout=5).data, b"second")
        finally:
            self.direct.close_socket(sid)


def _read_all(sock):
    buf = bytearray()
    while True:
        b = sock.recv(1 << 16)
        if not b:
            return bytes(buf)
        buf += b


if __name__ == "__main__":
    unittest.main()
