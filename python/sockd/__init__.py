"""sockd: a stdlib-only Python client for sockd, and a drop-in socket module.

- sockd.Client: the low-level client, one method per RPC of the REST API.
- sockd.socket: the standard socket module with the sockets on sockd
  (``from sockd import socket``).
- ``python3 -m sockd run SCRIPT [ARGS]``: runs an unchanged program with its
  socket, select and selectors modules replaced (see sockd.install).

SOCKD_URL (default http://127.0.0.1:8080) and SOCKD_TOKEN say where sockd is
and who the caller is. docs/python.md is the guide.
"""

from .client import Client, Received, Sent  # noqa: F401
from .errors import NotRemoteError, SockdConnectionError, SockdError  # noqa: F401
from ._install import install, uninstall  # noqa: F401

__version__ = "0.1.0"
__all__ = ["Client", "Received", "Sent", "SockdError", "SockdConnectionError", "NotRemoteError",
           "install", "uninstall", "__version__"]
