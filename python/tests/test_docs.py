"""docs/python.md's programs, run as they stand there: the socket tutorial's
four programs through sockd, against each other and against plain Python
peers, and the low-level client's example."""

import os
import re
import subprocess
import sys
import tempfile
import unittest

import harness

DOC = os.path.join(harness.REPO, "docs", "python.md")


def doc_blocks():
    """{file name: code} and {program: expected output} from the markers
    <!-- python-doc file=NAME --> and <!-- python-doc expect=NAME -->."""
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    files, expects = {}, {}
    for kind, name, body in re.findall(r"<!-- python-doc (file|expect)=(\S+) -->\n```\w*\n(.*?)```", text, re.S):
        (files if kind == "file" else expects)[name] = body
    snippets = re.findall(r"## The low-level client\n.*?```python\n(.*?)```", text, re.S)
    return files, expects, snippets


class DocsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = harness.shared()
        cls.files, cls.expects, cls.snippets = doc_blocks()
        cls.tmp = tempfile.mkdtemp(prefix="sockd-docs-")
        for name, code in cls.files.items():
            with open(os.path.join(cls.tmp, name), "w") as f:
                f.write(code)

    @classmethod
    def tearDownClass(cls):
        for name in os.listdir(cls.tmp):
            os.unlink(os.path.join(cls.tmp, name))
        os.rmdir(cls.tmp)

    def test_the_doc_has_the_four_programs(self):
        self.assertEqual(sorted(self.files), ["echo_client.py", "echo_server.py", "udp_client.py", "udp_server.py"])
        self.assertIn("s.listen(5)", self.files["echo_server.py"])

    def cmd(self, name, remote, *args):
        prog = [os.path.join(self.tmp, name)] + [str(a) for a in args]
        return [sys.executable, "-u"] + (["-m", "sockd", "run"] if remote else []) + prog

    def pair(self, server, client, server_remote, client_remote):
        srv = subprocess.Popen(self.cmd(server, server_remote, 0), env=self.d.env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            first = srv.stdout.readline()
            m = re.match(r"Listening on \('127\.0\.0\.1', (\d+)\)", first)
            self.assertTrue(m, "server said %r; stderr:\n%s" % (first, srv.stderr.read() if srv.poll() is not None else ""))
            port = int(m.group(1))
            cli = subprocess.run(self.cmd(client, client_remote, port), env=self.d.env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, timeout=60)
            self.assertEqual(cli.returncode, 0, cli.stderr)
            self.assertEqual(cli.stdout, self.expects[client])
            out, err = srv.communicate(timeout=30)
            self.assertEqual(srv.returncode, 0, err)
            return first + out
        finally:
            if srv.poll() is None:
                srv.kill()
                srv.communicate()

    def test_tcp_tutorial_on_sockd(self):
        for server_remote, client_remote in ((True, True), (True, False), (False, True)):
            with self.subTest(server_on_sockd=server_remote, client_on_sockd=client_remote):
                out = self.pair("echo_server.py", "echo_client.py", server_remote, client_remote)
                self.assertRegex(out, r"Connected by \('127\.0\.0\.1', \d+\)")

    def test_udp_tutorial_on_sockd(self):
        for server_remote, client_remote in ((True, True), (True, False), (False, True)):
            with self.subTest(server_on_sockd=server_remote, client_on_sockd=client_remote):
                out = self.pair("udp_server.py", "udp_client.py", server_remote, client_remote)
                self.assertRegex(out, r"b'bye' from \('127\.0\.0\.1', \d+\)")

    def test_low_level_example(self):
        self.assertEqual(len(self.snippets), 1)
        p = harness.run_python(["-c", self.snippets[0] + "\nprint(sent, got)\n"], self.d.env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Sent(bytes_sent=5, offset=", p.stdout)
        self.assertIn("Received(data=b'hello'", p.stdout)


if __name__ == "__main__":
    unittest.main()
