"""Errors: statuses become the OSError subclasses the standard module
raises, carrying reason, code, metadata and errno."""

import errno
import socket as real_socket
import unittest

import harness

import sockd
from sockd import errors


def status(code, reason, message="m", **metadata):
    return {"code": code, "message": message, "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "sockd",
         "metadata": metadata}]}


class MappingTest(unittest.TestCase):
    """error_from_status, on the JSON shapes docs/api.md shows."""

    def check(self, st, cls, num):
        e = errors.error_from_status(st)
        self.assertIsInstance(e, errors.SockdError)
        self.assertIsInstance(e, cls)
        self.assertEqual(e.errno, num)
        return e

    def test_errno_reasons(self):
        e = self.check(status(14, "ECONNREFUSED", errno="111", op="connect"), ConnectionRefusedError, errno.ECONNREFUSED)
        self.assertEqual((e.reason, e.code, e.code_name, e.remote_errno), ("ECONNREFUSED", 14, "UNAVAILABLE", 111))
        self.assertEqual(str(e), "[Errno %d] %s" % (errno.ECONNREFUSED, "Connection refused"))
        self.check(status(6, "EADDRINUSE", errno="98"), OSError, errno.EADDRINUSE)
        self.check(status(9, "ECONNRESET"), ConnectionResetError, errno.ECONNRESET)
        self.check(status(9, "EPIPE"), BrokenPipeError, errno.EPIPE)
        self.check(status(4, "EAGAIN"), BlockingIOError, errno.EAGAIN)
        self.check(status(4, "EINPROGRESS"), BlockingIOError, errno.EINPROGRESS)
        self.check(status(7, "EACCES"), PermissionError, errno.EACCES)

    def test_timeout_is_socket_timeout(self):
        e = self.check(status(4, "TIMEOUT"), real_socket.timeout, None)
        self.assertEqual(str(e), "timed out")
        e = errors.error_from_status({"code": 4, "message": "context deadline exceeded"})
        self.assertIsInstance(e, real_socket.timeout)

    def test_sockd_reasons(self):
        self.check(status(5, "SOCKET_NOT_FOUND"), OSError, errno.EBADF)
        self.check(status(3, "INVALID_OPTION"), OSError, errno.ENOPROTOOPT)
        self.check(status(7, "POLICY_DENIED"), PermissionError, errno.EACCES)
        self.check(status(8, "LIMIT_EXCEEDED", limit="max_sockets_per_principal"), OSError, errno.EMFILE)
        self.check(status(8, "LIMIT_EXCEEDED", limit="max_call_bytes"), OSError, errno.ENOBUFS)
        self.check(status(9, "WRONG_STATE", op="recv"), OSError, errno.ENOTCONN)
        self.check(status(9, "WRONG_STATE", op="accept"), OSError, errno.EINVAL)
        e = self.check(status(3, "INVALID_ADDRESS"), real_socket.gaierror, real_socket.EAI_NONAME)
        self.assertIn("INVALID_ADDRESS", e.reason)
        e = errors.error_from_status(status(9, "WRONG_STATE", "a listening socket cannot receive", op="recv"))
        self.assertIn("WRONG_STATE", str(e))
        self.assertIn("a listening socket cannot receive", str(e))

    def test_without_error_info(self):
        e = errors.error_from_status({"code": 12, "message": "method X not implemented"})
        self.assertEqual(e.code_name, "UNIMPLEMENTED")
        self.assertIsInstance(e, OSError)
        e = errors.error_from_status("not even a dict")
        self.assertIsInstance(e, errors.SockdError)


class ServerErrorsTest(unittest.TestCase):
    """The same, from a real sockd."""

    @classmethod
    def setUpClass(cls):
        cls.c = harness.client()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def test_connection_refused_carries_errno(self):
        port = harness.free_port()
        with self.assertRaises(ConnectionRefusedError) as cm:
            self.c.create_socket(connect_address="127.0.0.1:%d" % port)
        e = cm.exception
        self.assertEqual(e.errno, errno.ECONNREFUSED)
        self.assertEqual(e.reason, "ECONNREFUSED")
        self.assertEqual(e.metadata["op"], "connect")
        self.assertEqual(e.http_status, 503)
        self.assertTrue(e.request_id)

    def test_address_in_use(self):
        with real_socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            with self.assertRaises(OSError) as cm:
                self.c.create_socket(bind_address="127.0.0.1:%d" % taken.getsockname()[1])
        self.assertEqual(cm.exception.errno, errno.EADDRINUSE)

    def test_not_found_and_bad_option(self):
        with self.assertRaises(sockd.SockdError) as cm:
            self.c.get_socket("nosuchsocket")
        self.assertEqual((cm.exception.reason, cm.exception.errno), ("SOCKET_NOT_FOUND", errno.EBADF))
        s = self.c.create_socket()
        try:
            with self.assertRaises(OSError) as cm:
                self.c.set_option(s["id"], "SO_NOSUCHTHING", 1)
            self.assertEqual(cm.exception.reason, "INVALID_OPTION")
            self.assertEqual(cm.exception.errno, errno.ENOPROTOOPT)
        finally:
            self.c.close_socket(s["id"])

    def test_policy_denied(self):
        s = self.c.create_socket()
        try:
            with self.assertRaises(PermissionError) as cm:
                self.c.bind(s["id"], "127.0.0.1:80")
            self.assertEqual(cm.exception.reason, "POLICY_DENIED")
        finally:
            self.c.close_socket(s["id"])

    def test_timeout_and_would_block(self):
        lst = self.c.create_socket(bind_address="127.0.0.1:0", backlog=1)
        try:
            with self.assertRaises(real_socket.timeout):
                self.c.accept(lst["id"], timeout=0.05)
            with self.assertRaises(BlockingIOError) as cm:
                self.c.accept(lst["id"], timeout=0)
            self.assertEqual(cm.exception.errno, errno.EAGAIN)
        finally:
            self.c.close_socket(lst["id"])

    def test_unreachable_sockd(self):
        c = sockd.Client("http://127.0.0.1:%d" % harness.free_port())
        self.addCleanup(c.close)
        with self.assertRaises(sockd.SockdConnectionError) as cm:
            c.get_server_info()
        self.assertIsInstance(cm.exception, ConnectionError)
        self.assertIn("127.0.0.1", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
