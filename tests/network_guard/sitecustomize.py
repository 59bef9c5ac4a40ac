"""Block network access in every Python process that has this folder on ``PYTHONPATH``.

Python imports ``sitecustomize`` at start-up, so the root ``conftest.py`` puts this folder on
``PYTHONPATH`` and subprocesses and notebook kernels inherit the guard; it also calls
:func:`install` in the pytest process itself. Only loopback (127.0.0.0/8, ::1, ``localhost``)
and Unix sockets are allowed, which keeps Jupyter's kernel connections (ZeroMQ on loopback)
working.

The guard patches ``socket.socket.connect``, ``socket.socket.connect_ex``,
``socket.create_connection`` and ``socket.getaddrinfo``: that covers urllib, requests,
``torch.hub`` and asyncio, not C libraries that open their own sockets.
"""

import importlib.machinery
import importlib.util
import ipaddress
import os
import socket
import sys

_ALLOWED_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class NetworkBlockedError(OSError):
    """Raised instead of opening a connection to a non-loopback address."""

    def __init__(self, host, port=None):
        target = host if port is None else f"{host}:{port}"
        super().__init__(
            f"Network access is blocked during the course tests (tried to reach {target}). "
            "Ship data in data/ or generate it; do not download at run time."
        )


def is_loopback(host) -> bool:
    """Whether ``host`` (a name or an address, str or bytes) stays on this machine.

    True for loopback names and addresses and for the unspecified address (0.0.0.0, ::).
    """
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _ALLOWED_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or address.is_unspecified or bool(mapped and mapped.is_loopback)


def _check_address(family, address):
    if family == getattr(socket, "AF_UNIX", None):
        return
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        if not is_loopback(address[0]):
            raise NetworkBlockedError(address[0], address[1] if len(address) > 1 else None)
        return
    raise NetworkBlockedError(repr(address))


def install():
    """Patch the ``socket`` module (once per process)."""
    if getattr(socket, "_course_network_guard", False):
        return
    raw_connect, raw_connect_ex = socket.socket.connect, socket.socket.connect_ex
    raw_create_connection, raw_getaddrinfo = socket.create_connection, socket.getaddrinfo
    own_names = {socket.gethostname().lower()}  # resolving our own name stays local

    def connect(self, address):
        _check_address(self.family, address)
        return raw_connect(self, address)

    def connect_ex(self, address):
        _check_address(self.family, address)
        return raw_connect_ex(self, address)

    def create_connection(address, *args, **kwargs):
        if not is_loopback(address[0]):
            raise NetworkBlockedError(address[0], address[1])
        return raw_create_connection(address, *args, **kwargs)

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
        if name and not is_loopback(name) and name.lower() not in own_names:
            raise NetworkBlockedError(name, port)
        return raw_getaddrinfo(host, port, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.create_connection, socket.getaddrinfo = create_connection, getaddrinfo
    socket._course_network_guard = True


def _chain_next_sitecustomize():
    """Run the ``sitecustomize`` this file shadows, if the interpreter has one."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


if __name__ == "sitecustomize":  # imported by Python at start-up
    install()
    _chain_next_sitecustomize()
