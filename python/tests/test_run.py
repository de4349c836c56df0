"""python3 -m sockd run: unchanged programs of the standard library, their
sockets on sockd, with real peers on the other side."""

import os
import socket as real
import socketserver
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest

import harness



def setUpModule():
    harness.shared()


class RunTest(unittest.TestCase):
    def setUp(self):
        self.d = harness.shared()
        self.tmp = tempfile.mkdtemp(prefix="sockd-run-")
        self.procs = []
        self.c = harness.client()
        self.addCleanup(self.c.close)

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdin, p.stdout, p.stderr):
                if f:
                    f.close()
        for name in os.listdir(self.tmp):
            os.unlink(os.path.join(self.tmp, name))
        os.rmdir(self.tmp)

    def script(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def run_sockd(self, *args, timeout=60, input=None):
        p = harness.run_python(["-m", "sockd", "run"] + list(args), self.d.env(), timeout=timeout, input=input)
        self.assertEqual(p.returncode, 0, "stdout:\n%s\nstderr:\n%s" % (p.stdout, p.stderr))
        return p

    def start_sockd(self, *args):
        """Starts `python3 -m sockd run ARGS` in the background."""
        p = subprocess.Popen([sys.executable, "-u", "-m", "sockd", "run"] + list(args), env=self.d.env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def line(self, p):
        line = p.stdout.readline()
        if not line:
            p.wait(10)
            self.fail("the program ended early:\n" + p.stderr.read())
        return line.strip()

    def assert_all_closed(self, label):
        """The program's sockets are gone from sockd once it has exited."""
        left = [s["id"] for s in self.c.iter_sockets() if s.get("labels", {}).get("test") == label]
        self.assertEqual(left, [])

    def test_module_is_replaced(self):
        path = self.script("which.py", """
            import socket, select, selectors
            print(socket.__name__, select.__name__, selectors.__name__)
            import http.client
            print(http.client.socket is socket)
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            print(s.sockd_id is not None)
        """)
        p = self.run_sockd(path)
        self.assertEqual(p.stdout.split(), ["sockd.socket", "sockd.select", "sockd.selectors", "True", "True"])

    def test_arguments_exit_code_and_traceback(self):
        path = self.script("args.py", """
            import sys
            print(sys.argv)
            sys.exit(int(sys.argv[1]))
        """)
        p = harness.run_python(["-m", "sockd", "run", path, "7", "x"], self.d.env())
        self.assertEqual(p.returncode, 7)
        self.assertEqual(p.stdout.strip(), repr([path, "7", "x"]))
        path = self.script("boom.py", "raise ValueError('boom')\n")
        p = harness.run_python(["-m", "sockd", "run", path], self.d.env())
        self.assertEqual(p.returncode, 1)
        self.assertIn("ValueError: boom", p.stderr)
        p = harness.run_python(["-m", "sockd", "run"], self.d.env())
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage", p.stderr)

    def test_http_client_against_a_real_http_server(self):
        import functools
        import http.server
        with open(os.path.join(self.tmp, "hello.txt"), "w") as f:
            f.write("hello over sockd\n")
        class Handler(http.server.SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def log_message(self, *args):
                pass
        handler = functools.partial(Handler, directory=self.tmp)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        self.addCleanup(lambda: (srv.shutdown(), srv.server_close()))
        path = self.script("get.py", """
            import http.client, sys
            conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
            for i in range(3):                      # keep-alive: one connection, three requests
                conn.request("GET", "/hello.txt")
                r = conn.getresponse()
                print(r.status, r.read().decode().strip())
            print(conn.sock.getpeername()[1] == int(sys.argv[1]))
            conn.close()
        """)
        p = self.run_sockd(path, str(srv.server_address[1]))
        self.assertEqual(p.stdout.splitlines(), ["200 hello over sockd"] * 3 + ["True"])

    def test_http_server_on_sockd_and_urllib_here(self):
        with open(os.path.join(self.tmp, "page.html"), "w") as f:
            f.write("<p>served from sockd</p>\n")
        p = self.start_sockd("-m", "http.server", "--bind", "127.0.0.1", "--directory", self.tmp, "0")
        # http.server prints "Serving HTTP on 127.0.0.1 port N (...)".
        line = self.line(p)
        self.assertIn("Serving HTTP on 127.0.0.1 port", line)
        port = int(line.split(" port ")[1].split()[0])
        import urllib.request
        for _ in range(2):
            with urllib.request.urlopen("http://127.0.0.1:%d/page.html" % port, timeout=10) as r:
                self.assertEqual(r.read(), b"<p>served from sockd</p>\n")
        p.terminate()
        p.wait(30)

    def test_smtplib_against_a_real_line_protocol_server(self):
        got = {}

        class SMTP(socketserver.StreamRequestHandler):
            def handle(self):
                w = self.wfile.write
                w(b"220 test ESMTP\r\n")
                data = False
                lines = []
                for raw in self.rfile:
                    line = raw.decode().rstrip("\r\n")
                    if data:
                        if line == ".":
                            data = False
                            got["message"] = "\n".join(lines)
                            w(b"250 OK queued\r\n")
                        else:
                            lines.append(line[1:] if line.startswith("..") else line)
                        continue
                    verb = line.split(" ")[0].upper()
                    if verb == "EHLO":
                        w(b"250-test greets you\r\n250-8BITMIME\r\n250 SIZE 100000\r\n")
                    elif verb in ("MAIL", "RCPT"):
                        got.setdefault(verb, []).append(line)
                        w(b"250 OK\r\n")
                    elif verb == "DATA":
                        data = True
                        w(b"354 go ahead\r\n")
                    elif verb == "QUIT":
                        w(b"221 bye\r\n")
                        return
                    else:
                        w(b"502 what\r\n")

        srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTP)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(lambda: (srv.shutdown(), srv.server_close()))
        path = self.script("mail.py", """
            import smtplib, sys
            from email.message import EmailMessage
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", "over sockd"
            msg.set_content("Hello.\\n.a line with a dot\\n")
            with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10) as s:
                print(s.ehlo()[0])
                print(s.send_message(msg))
        """)
        p = self.run_sockd(path, str(srv.server_address[1]))
        self.assertEqual(p.stdout.split(), ["250", "{}"])
        self.assertEqual(len(got["MAIL"]), 1)
        self.assertTrue(got["MAIL"][0].lower().startswith("mail from:<a@example.org>"), got["MAIL"])
        self.assertEqual([r.lower() for r in got["RCPT"]], ["rcpt to:<b@example.org>"])
        self.assertIn("Subject: over sockd", got["message"])
        self.assertIn(".a line with a dot", got["message"])

    def socketserver_echo(self, kind):
        path = self.script("echo_%s.py" % kind, """
            import socketserver, sys, threading

            class TCPEcho(socketserver.StreamRequestHandler):
                def handle(self):
                    for line in self.rfile:
                        self.wfile.write(line.upper())

            class UDPEcho(socketserver.BaseRequestHandler):
                def handle(self):
                    data, sock = self.request
                    sock.sendto(data.upper(), self.client_address)

            kind = sys.argv[1]
            if kind == "udp":
                server = socketserver.UDPServer(("127.0.0.1", 0), UDPEcho)
            elif kind == "forking":
                server = socketserver.ForkingTCPServer(("127.0.0.1", 0), TCPEcho)
            else:
                server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), TCPEcho)
            with server:
                print(server.server_address[1], flush=True)
                threading.Thread(target=lambda: (sys.stdin.readline(), server.shutdown()), daemon=True).start()
                server.serve_forever(poll_interval=0.1)
            print("stopped", flush=True)
        """)
        p = self.start_sockd(path, kind)
        port = int(self.line(p))
        return p, port

    def stop(self, p):
        p.stdin.write("stop\n")
        p.stdin.flush()
        self.assertEqual(self.line(p), "stopped")
        self.assertEqual(p.wait(30), 0, p.stderr.read())

    def check_tcp_echo(self, kind):
        p, port = self.socketserver_echo(kind)
        clients = [real.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        try:
            for i, c in enumerate(clients):
                c.sendall(b"hello %d\n" % i)
            for i, c in enumerate(clients):
                f = c.makefile("rb")
                self.assertEqual(f.readline(), b"HELLO %d\n" % i)
                c.sendall(b"again\n")
                self.assertEqual(f.readline(), b"AGAIN\n")
                f.close()
        finally:
            for c in clients:
                c.close()
        self.stop(p)

    def test_socketserver_threading_tcp_echo(self):
        self.check_tcp_echo("threading")

    def test_socketserver_forking_tcp_echo(self):
        self.check_tcp_echo("forking")

    def test_socketserver_udp_echo(self):
        p, port = self.socketserver_echo("udp")
        with real.socket(real.AF_INET, real.SOCK_DGRAM) as c:
            c.settimeout(10)
            for m in (b"one", b"two"):
                c.sendto(m, ("127.0.0.1", port))
                data, addr = c.recvfrom(100)
                self.assertEqual(data, m.upper())
                self.assertEqual(addr, ("127.0.0.1", port))
        self.stop(p)

    def test_selectors_and_select_on_sockd_sockets(self):
        path = self.script("sel.py", """
            import select, selectors, socket, sys
            srv = socket.create_server(("127.0.0.1", 0))
            srv.setblocking(False)
            print(srv.getsockname()[1], flush=True)
            sel = selectors.DefaultSelector()
            sel.register(srv, selectors.EVENT_READ, "accept")
            served = 0
            while served < 2:
                for key, ev in sel.select(timeout=10):
                    if key.data == "accept":
                        conn, _ = srv.accept()
                        conn.setblocking(False)
                        sel.register(conn, selectors.EVENT_READ, "read")
                    else:
                        data = key.fileobj.recv(100)
                        if data:
                            key.fileobj.sendall(data[::-1])
                        else:
                            sel.unregister(key.fileobj)
                            key.fileobj.close()
                            served += 1
            r, w, x = select.select([srv], [], [], 0.05)
            print("idle", r == [], flush=True)
        """)
        p = self.start_sockd(path)
        port = int(self.line(p))
        a = real.create_connection(("127.0.0.1", port), timeout=10)
        b = real.create_connection(("127.0.0.1", port), timeout=10)
        with a, b:
            b.sendall(b"olleh")
            a.sendall(b"dlrow")
            self.assertEqual(a.recv(100), b"world")
            self.assertEqual(b.recv(100), b"hello")
        self.assertEqual(self.line(p), "idle True")
        self.assertEqual(p.wait(30), 0, p.stderr.read())


if __name__ == "__main__":
    unittest.main()
