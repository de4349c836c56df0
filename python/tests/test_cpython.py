"""CPython's own Lib/test/test_socket.py with sockd.socket as `socket`
(cpython_socket.py, run in a child process against a sockd of its own)."""

import json
import os
import sys
import unittest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))


def have_test_socket():
    try:
        import test.test_socket  # noqa: F401
        return True
    except ImportError:
        return False


class CPythonTestSocket(unittest.TestCase):
    def test_tcp_udp_timeout_and_nonblocking_classes_pass(self):
        harness.need(have_test_socket(), "this Python has no test.test_socket (Debian: python3-test / libpython3-testsuite)")
        d = harness.Sockd(*harness.WILDCARD_BIND)
        self.addCleanup(d.stop)
        p = harness.run_python([os.path.join(HERE, "cpython_socket.py"), "--json"], d.env(), timeout=1200)
        try:
            report = json.loads(p.stdout)
        except ValueError:
            self.fail("cpython_socket.py printed no report:\n%s\n%s" % (p.stdout[-3000:], p.stderr[-6000:]))
        problems = {}
        lines = []
        for cls, r in report.items():
            lines.append("%-42s pass %3d  fail %2d  error %2d  skip %2d  out of scope %2d%s" % (
                cls, r["pass"], r["fail"], r["error"], r["skip"], len(r["out_of_scope"]),
                "  over time %d" % len(r["timing"]) if r.get("timing") else ""))
            for test, detail in r["problems"].items():
                if not detail.startswith("skipped"):
                    problems[test] = detail
        sys.stderr.write("\nCPython %s test_socket.py with sockd.socket:\n%s\n" % (
            sys.version.split()[0], "\n".join(lines)))
        self.assertEqual(problems, {}, "in-scope CPython socket tests failed")
        passed = sum(r["pass"] for r in report.values())
        self.assertGreater(passed, 250)


if __name__ == "__main__":
    unittest.main()
