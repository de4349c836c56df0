"""Replacing the socket module of a running program (what `run` does).

install() puts sockd.socket, sockd.select and sockd.selectors in
sys.modules under the standard names, so that every later `import socket`
gets sockd's, and forgets the modules already imported that hold the
standard ones (http.client, ssl, socketserver, ... when they were imported
before), so that they are imported afresh, over sockd, when the program
imports them. sockd's own HTTP connections keep the standard module: they
were made before and never look it up again.
"""

import sys
import types

_NAMES = ("socket", "select", "selectors")
_saved = None


def _replacements():
    from . import select as sselect
    from . import selectors as sselectors
    from . import socket as ssocket
    return {"socket": ssocket, "select": sselect, "selectors": sselectors}


def _real_modules():
    import select
    import selectors
    import socket
    return {
        "socket": getattr(socket, "_sockd_std", socket),
        "select": getattr(select, "_sockd_real", select),
        "selectors": getattr(selectors, "_sockd_real", selectors),
    }


def _holds(mod, real):
    """Whether a module holds one of the real modules, or something defined
    in one of them (from socket import socket, create_connection, ...)."""
    real_ids = {id(m) for m in real}
    real_names = {m.__name__ for m in real} | {"_socket"}
    for v in list(vars(mod).values()):
        if id(v) in real_ids:
            return True
        if isinstance(v, (type, types.FunctionType, types.BuiltinFunctionType)):
            if getattr(v, "__module__", None) in real_names:
                return True
    return False


def install():
    """Makes `import socket` (and select, selectors) give sockd's modules
    from now on. Returns the names of the modules it made re-import."""
    global _saved
    real = _real_modules()
    repl = _replacements()
    if _saved is None:
        _saved = {n: sys.modules.get(n) for n in _NAMES}
    for n in _NAMES:
        sys.modules[n] = repl[n]
    purged = []
    for name, mod in list(sys.modules.items()):
        if mod is None or name in _NAMES or name == "sockd" or name.startswith("sockd."):
            continue
        f = getattr(mod, "__file__", None) or ""
        if not f.endswith(".py"):
            continue  # built-in and C modules are left alone
        try:
            if _holds(mod, real.values()):
                del sys.modules[name]
                purged.append(name)
        except Exception:
            continue
    return purged


def uninstall():
    """Puts the standard modules back (modules imported meanwhile keep
    sockd's)."""
    global _saved
    if _saved is None:
        return
    for n, m in _saved.items():
        if m is None:
            sys.modules.pop(n, None)
        else:
            sys.modules[n] = m
    _saved = None
