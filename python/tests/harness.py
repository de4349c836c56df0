"""The test harness: a real sockd binary on free loopback ports.

The binary is $SOCKD_BIN, else built once per run with `go build` into a
temporary directory. Without either (no Go here), the tests skip with one
line saying why, unless CI=true or SOCKD_TEST_ALL=1, where they fail.

Every test talks to a real sockd over its REST gateway, with real peers on
the other side (the standard socket module, http.server, subprocesses).
"""

import atexit
import json
import os
import shutil
import socket as real_socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

MUST_RUN = os.environ.get("CI") == "true" or os.environ.get("SOCKD_TEST_ALL") == "1"

_bin = None
_bin_error = None
_build_dir = None


def need(condition, why):
    """Skips the test (or fails it under CI=true / SOCKD_TEST_ALL=1) unless
    condition holds."""
    if condition:
        return
    if MUST_RUN:
        raise AssertionError("required in CI: " + why)
    raise unittest.SkipTest(why)


def sockd_binary():
    """The sockd binary: $SOCKD_BIN, else one built with go build."""
    global _bin, _bin_error, _build_dir
    if _bin or _bin_error:
        need(_bin is not None, _bin_error or "")
        return _bin
    env_bin = os.environ.get("SOCKD_BIN")
    if env_bin:
        if not os.access(env_bin, os.X_OK):
            _bin_error = "SOCKD_BIN=%s is not an executable" % env_bin
        else:
            _bin = env_bin
    elif shutil.which("go") is None:
        _bin_error = "sockd tests need SOCKD_BIN or Go to build sockd"
    else:
        _build_dir = tempfile.mkdtemp(prefix="sockd-pytest-")
        atexit.register(shutil.rmtree, _build_dir, True)
        out = os.path.join(_build_dir, "sockd")
        p = subprocess.run(["go", "build", "-o", out, "./cmd/sockd"], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        if p.returncode != 0:
            raise AssertionError("go build ./cmd/sockd failed:\n" + p.stdout.decode(errors="replace"))
        _bin = out
    need(_bin is not None, _bin_error or "")
    return _bin


class Sockd:
    """A running sockd on free loopback ports; stop() ends it (SIGTERM)."""

    def __init__(self, *flags, env=None):
        cmd = [sockd_binary(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
               "--log-format", "json"] + list(flags)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        self.log = []
        self._ready = threading.Event()
        self.http = self.grpc = None
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if not self._ready.wait(30) or self.http is None:
            self.stop()
            raise AssertionError("sockd did not say it was listening:\n" + "\n".join(self.log))
        self.url = "http://" + self.http

    def _read_log(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log.append(line)
            if not self._ready.is_set():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("msg") == "listening":
                    self.http, self.grpc = rec.get("http"), rec.get("grpc")
                    self._ready.set()
        self._ready.set()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        self.proc.stderr.close()

    def env(self, **extra):
        """The environment for a subprocess that uses this sockd."""
        e = dict(os.environ)
        e["SOCKD_URL"] = self.url
        e["PYTHONPATH"] = PYTHON_DIR + os.pathsep + e.get("PYTHONPATH", "")
        e.update({k: str(v) for k, v in extra.items()})
        return e


# sockd's default bind policy (loopback only) plus the wildcard addresses,
# for programs that bind ("", port) as many tutorials and tests do. Binding
# the wildcard sends nothing; the connect policy stays loopback-only.
WILDCARD_BIND = [
    "--allow-bind", "127.0.0.0/8:0,1024-65535", "--allow-bind", "[::1/128]:0,1024-65535",
    "--allow-bind", "0.0.0.0/32:0,1024-65535", "--allow-bind", "[::/128]:0,1024-65535",
]

_shared = None


def shared():
    """The sockd most tests share (one per test run), with the module
    sockd.socket pointed at it."""
    global _shared
    if _shared is None or _shared.proc.poll() is not None:
        _shared = Sockd()
        atexit.register(_stop_shared)
        os.environ["SOCKD_URL"] = _shared.url
        import sockd.socket
        sockd.socket.configure(url=_shared.url)
    return _shared


def _stop_shared():
    # The process lease first, while sockd is still there to revoke it.
    import sockd.lease
    import sockd.socket
    sockd.lease._revoke_all()
    if sockd.socket._client is not None:
        sockd.socket._client.close()
    _shared.stop()


def client(d=None):
    import sockd
    return sockd.Client((d or shared()).url)


def free_port(host="127.0.0.1", family=real_socket.AF_INET, type=real_socket.SOCK_STREAM):
    """A port nothing listens on now (for 'connection refused')."""
    with real_socket.socket(family, type) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def has_ipv6():
    try:
        with real_socket.socket(real_socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def run_python(args, env, timeout=60, input=None, cwd=None):
    """Runs python3 with args; returns the CompletedProcess (text)."""
    return subprocess.run([sys.executable] + list(args), env=env, input=input, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def wait_until(pred, timeout, interval=0.05):
    """Polls pred until it is true or timeout seconds passed; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class Thread(threading.Thread):
    """A thread whose exception is raised again by join()."""

    def __init__(self, target, *args):
        super().__init__(daemon=True)
        self._t, self._a, self.exc, self.result = target, args, None, None

    def run(self):
        try:
            self.result = self._t(*self._a)
        except BaseException as e:  # re-raised in join
            self.exc = e

    def join(self, timeout=30):
        super().join(timeout)
        if self.is_alive():
            raise AssertionError("thread still running after %ss" % timeout)
        if self.exc is not None:
            raise self.exc
        return self.result


def start(target, *args):
    t = Thread(target, *args)
    t.start()
    return t
