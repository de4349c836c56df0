"""The Python error table against the proto's ErrorReason enum."""

import os
import re
import subprocess
import sys
import unittest

import harness  # noqa: F401  (puts python/ on sys.path)

from sockd import _reasons, errors

PROTO = os.path.join(harness.REPO, "api", "proto", "sockd", "v1", "errors.proto")
GEN = os.path.join(harness.PYTHON_DIR, "tools", "gen_reasons.py")


def proto_reasons():
    with open(PROTO, encoding="utf-8") as f:
        text = f.read()
    body = re.search(r"enum\s+ErrorReason\s*\{(.*?)\n\}", text, re.S).group(1)
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*(\d+)\s*;", body, re.M)}


class ReasonTableTest(unittest.TestCase):
    def test_generated_table_is_fresh(self):
        p = subprocess.run([sys.executable, GEN, "--check"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_generated_table_matches_the_proto(self):
        want = {k: v for k, v in proto_reasons().items() if v != 0}
        self.assertGreater(len(want), 20)
        self.assertEqual({k: v[0] for k, v in _reasons.REASONS.items()}, want)

    def test_every_reason_has_an_errno(self):
        missing = sorted(set(proto_reasons()) - set(errors.REASON_ERRNO) - {"ERROR_REASON_UNSPECIFIED"})
        self.assertEqual(missing, [], "add these ErrorReasons to sockd/errors.py REASON_ERRNO")
        extra = sorted(set(errors.REASON_ERRNO) - set(proto_reasons()))
        self.assertEqual(extra, [], "REASON_ERRNO names reasons the proto does not have")
