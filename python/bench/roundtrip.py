#!/usr/bin/env python3
"""Send+recv round trips through sockd: the drop-in module against the same
round trip made by hand with http.client (the raw REST floor), and against
the Go client (gRPC), in one run.

    python3 python/bench/roundtrip.py [--n 2000] [--size 64] [--runs 5] [--no-go]

It starts its own sockd (SOCKD_BIN, else `go build`), an echo peer made
with the standard socket module, and then, in each run, for each case, one
socket connected to the echo peer through sockd and n round trips: send
`size` bytes (sendall), receive until they are back. Cases run interleaved,
run after run, so that the machine's noise hits them alike. It prints the
median (and p90) microseconds per round trip of each case, and the module's
ratio to the raw REST round trip (the target is at most 1.3x).

- raw-rest: http.client.HTTPConnection, keep-alive, json + base64 by hand,
  POST :send {"data", "all"} and POST :recv {"maxBytes"}: two calls per round
  trip, nothing else.
- sockd.socket: socket.create_connection, sendall, recv (with stream offsets,
  as the module always does).
- sockd.Client: the low-level client's send/recv with offsets.
- go-client: github.com/sockd/sockd/client over gRPC (python/bench/goroundtrip).
"""

import argparse
import base64
import http.client
import json
import os
import shutil
import socket as real
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
sys.path.insert(0, PYTHON_DIR)
sys.path.insert(0, os.path.join(PYTHON_DIR, "tests"))

import harness  # noqa: E402

import sockd  # noqa: E402
from sockd import socket as ssock  # noqa: E402


def echo_server():
    lst = real.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(64)

    def serve(conn):
        conn.setsockopt(real.IPPROTO_TCP, real.TCP_NODELAY, 1)
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    def loop():
        while True:
            try:
                conn, _ = lst.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return lst


def case_raw_rest(d, echo, n, warm, size):
    """The floor: the same two REST calls per round trip by hand."""
    c = sockd.Client(d.url)
    sid = c.create_socket(connect_address="%s:%d" % echo, options={"TCP_NODELAY": 1})["id"]
    host, port = d.http.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port))
    conn.connect()
    conn.sock.setsockopt(real.IPPROTO_TCP, real.TCP_NODELAY, 1)
    headers = {"Content-Type": "application/json"}
    send_path, recv_path = "/v1/sockets/%s:send" % sid, "/v1/sockets/%s:recv" % sid
    msg = os.urandom(size)
    rtts = []
    try:
        for i in range(warm + n):
            t0 = time.perf_counter()
            body = json.dumps({"data": base64.b64encode(msg).decode(), "all": True})
            conn.request("POST", send_path, body, headers)
            r = conn.getresponse()
            r.read()
            got = 0
            while got < size:
                conn.request("POST", recv_path, json.dumps({"maxBytes": size - got}), headers)
                r = conn.getresponse()
                got += len(base64.b64decode(json.loads(r.read()).get("data", "")))
            if i >= warm:
                rtts.append((time.perf_counter() - t0) * 1e6)
    finally:
        conn.close()
        c.close_socket(sid)
        c.close()
    return rtts


def case_module(d, echo, n, warm, size):
    s = ssock.create_connection(echo)
    s.setsockopt(ssock.IPPROTO_TCP, ssock.TCP_NODELAY, 1)
    msg = os.urandom(size)
    rtts = []
    with s:
        for i in range(warm + n):
            t0 = time.perf_counter()
            s.sendall(msg)
            got = 0
            while got < size:
                got += len(s.recv(size - got))
            if i >= warm:
                rtts.append((time.perf_counter() - t0) * 1e6)
    return rtts


def case_client(d, echo, n, warm, size):
    c = sockd.Client(d.url)
    sid = c.create_socket(connect_address="%s:%d" % echo, options={"TCP_NODELAY": 1})["id"]
    msg = os.urandom(size)
    rtts = []
    sent = received = 0
    try:
        for i in range(warm + n):
            t0 = time.perf_counter()
            sent = c.send(sid, msg, all=True, offset=sent).offset or sent + size
            got = 0
            while got < size:
                r = c.recv(sid, size - got, from_offset=received)
                got += len(r.data)
                received += len(r.data)
            if i >= warm:
                rtts.append((time.perf_counter() - t0) * 1e6)
    finally:
        c.close_socket(sid)
        c.close()
    return rtts


def build_go(tmp):
    if shutil.which("go") is None:
        return None
    out = os.path.join(tmp, "goroundtrip")
    p = subprocess.run(["go", "build", "-o", out, "./python/bench/goroundtrip"], cwd=REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.stderr.write("go build failed, skipping the Go client:\n" + p.stdout)
        return None
    return out


def case_go(binary):
    def run(d, echo, n, warm, size):
        p = subprocess.run([binary, "-addr", d.grpc, "-echo", "%s:%d" % echo, "-n", str(n),
                            "-warmup", str(warm), "-size", str(size)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError("goroundtrip: " + p.stderr)
        return json.loads(p.stdout)["rtt_us"]
    return run


def p90(xs):
    xs = sorted(xs)
    return xs[int(len(xs) * 0.9)]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="round trips per case and run")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--size", type=int, default=64, help="bytes per round trip")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-go", action="store_true", help="leave out the Go client")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = ap.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="sockd-bench-")
    d = harness.Sockd("--rate", "0")
    try:
        ssock.configure(url=d.url)
        lst = echo_server()
        echo = lst.getsockname()
        cases = [("raw-rest", case_raw_rest), ("sockd.socket", case_module), ("sockd.Client", case_client)]
        if not args.no_go:
            gob = build_go(tmp)
            if gob:
                cases.append(("go-client", case_go(gob)))
        medians = {name: [] for name, _ in cases}
        p90s = {name: [] for name, _ in cases}
        for run in range(args.runs):
            for name, fn in cases:
                rtts = fn(d, echo, args.n, args.warmup, args.size)
                medians[name].append(statistics.median(rtts))
                p90s[name].append(p90(rtts))
        raw = statistics.median(medians["raw-rest"])
        print("sockd round trips: send %d bytes + recv them back, %d per case, %d runs (median of run medians)" % (
            args.size, args.n, args.runs))
        print()
        print("| case | median µs | p90 µs | × raw REST | run medians |")
        print("|---|---:|---:|---:|---|")
        result = {}
        for name, _ in cases:
            m = statistics.median(medians[name])
            result[name] = {"median_us": m, "p90_us": statistics.median(p90s[name]), "ratio": m / raw,
                            "runs_us": medians[name]}
            print("| %s | %.0f | %.0f | %.2f | %s |" % (name, m, statistics.median(p90s[name]), m / raw,
                                                       ", ".join("%.0f" % x for x in medians[name])))
        # Paired: each run's module median over the same run's raw median
        # (the cases of one run ran back to back, under the same load).
        paired = sorted(m / r for m, r in zip(medians["sockd.socket"], medians["raw-rest"]))
        ratio = statistics.median(paired)
        result["paired_ratios"] = paired
        print()
        print("sockd.socket / raw REST, run by run: %s; median %.2fx (target <= 1.3x): %s" % (
            ", ".join("%.2f" % x for x in paired), ratio, "met" if ratio <= 1.3 else "MISSED"))
        if args.json:
            print(json.dumps(result, indent=1))
        lst.close()
    finally:
        import sockd.lease
        sockd.lease._revoke_all()
        d.stop()
        shutil.rmtree(tmp, True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
