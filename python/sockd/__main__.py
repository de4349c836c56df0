"""python3 -m sockd: run a program with its sockets on sockd.

    python3 -m sockd run SCRIPT [ARGS...]
    python3 -m sockd run -m MODULE [ARGS...]

The program runs unchanged: its `import socket` (and select, selectors)
gives sockd's modules, so every socket it makes is a socket on the sockd at
SOCKD_URL (default http://127.0.0.1:8080), as SOCKD_TOKEN. Its sockets are
closed when it exits (or within SOCKD_LEASE_TTL if it is killed).
"""

import os
import runpy
import sys

USAGE = """usage: python3 -m sockd run SCRIPT [ARGS...]
       python3 -m sockd run -m MODULE [ARGS...]
       python3 -m sockd version

Runs a Python program with its socket module replaced by sockd.socket, so
that its sockets are real sockets on the sockd at SOCKD_URL
(default http://127.0.0.1:8080), authenticated by SOCKD_TOKEN.
"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "version":
        from . import __version__
        print("sockd python client", __version__)
        return 0
    if cmd != "run" or not rest:
        sys.stderr.write(USAGE)
        return 2
    from . import install
    if rest[0] == "-m":
        if len(rest) < 2:
            sys.stderr.write(USAGE)
            return 2
        module, args = rest[1], rest[2:]
        sys.argv = [module] + args
        sys.path.insert(0, os.getcwd())
        install()
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    script, args = rest[0], rest[1:]
    if not os.path.exists(script):
        sys.stderr.write("python3 -m sockd run: %s: no such file\n" % script)
        return 2
    sys.argv = [script] + args
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    install()
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
