"""Who and how: SOCKD_TOKEN against a sockd with --token-file, and an
https:// SOCKD_URL against a sockd with TLS (SOCKD_CA_FILE)."""

import os
import shutil
import subprocess
import tempfile
import unittest

import harness

import sockd

TOKEN = "py-client-token-0123456789abcdef"

PROG = """
import socket
with socket.create_server(("127.0.0.1", 0)) as srv:
    with socket.create_connection(srv.getsockname()) as c:
        conn, _ = srv.accept()
        with conn:
            c.sendall(b"ping")
            print(conn.recv(4).decode(), srv.sockd_id)
"""


class TokenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sockd-sec-")
        tokens = os.path.join(cls.tmp, "tokens")
        with open(tokens, "w") as f:
            f.write("%s alice\n" % TOKEN)
        cls.d = harness.Sockd("--token-file", tokens)

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        shutil.rmtree(cls.tmp, True)

    def test_without_a_token_the_error_says_so(self):
        c = sockd.Client(self.d.url, token="")
        self.addCleanup(c.close)
        with self.assertRaises(PermissionError) as cm:
            c.create_socket()
        self.assertEqual(cm.exception.reason, "UNAUTHENTICATED")
        self.assertEqual(cm.exception.http_status, 401)

    def test_the_module_with_sockd_token(self):
        p = harness.run_python(["-c", "import sockd; sockd.install()\n" + PROG], self.d.env(SOCKD_TOKEN=TOKEN))
        self.assertEqual(p.returncode, 0, p.stderr)
        word, sid = p.stdout.split()
        self.assertEqual(word, "ping")
        c = sockd.Client(self.d.url, token=TOKEN)
        self.addCleanup(c.close)
        self.assertEqual(c.get_server_info()["principal"], "alice")
        with self.assertRaises(sockd.SockdError):
            c.get_socket(sid)  # closed with its program's lease

    def test_a_wrong_token(self):
        p = harness.run_python(["-c", "import sockd; sockd.install()\n" + PROG], self.d.env(SOCKD_TOKEN="wrong"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("UNAUTHENTICATED", p.stderr)


class TLSTest(unittest.TestCase):
    def setUp(self):
        harness.need(shutil.which("openssl") is not None, "the TLS test makes its certificate with openssl")
        self.tmp = tempfile.mkdtemp(prefix="sockd-tls-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", self.cert, "-days", "1", "-subj", "/CN=sockd-test",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.d = harness.Sockd("--tls-cert", self.cert, "--tls-key", key)
        self.addCleanup(self.d.stop)
        self.url = "https://" + self.d.http

    def test_https_with_sockd_ca_file(self):
        env = self.d.env(SOCKD_URL=self.url, SOCKD_CA_FILE=self.cert)
        p = harness.run_python(["-c", "import sockd; sockd.install()\n" + PROG], env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split()[0], "ping")

    def test_an_untrusted_certificate_is_refused(self):
        os.environ.pop("SOCKD_CA_FILE", None)
        c = sockd.Client(self.url)
        self.addCleanup(c.close)
        with self.assertRaises(sockd.SockdConnectionError) as cm:
            c.get_server_info()
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
