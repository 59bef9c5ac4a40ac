"""The network guard (tests/network_guard) blocks this process, subprocesses and kernels."""

import importlib.util
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

BLOCKED = "Network access is blocked during the course tests"
# TEST-NET-1 (RFC 5737) is never routed: even without the guard nothing could be reached.
UNROUTABLE = ("192.0.2.1", 80)
GUARD_FILE = Path(__file__).parent / "network_guard" / "sitecustomize.py"


def _guard_module():
    spec = importlib.util.spec_from_file_location("network_guard_under_test", GUARD_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_connect_is_blocked():
    with socket.socket() as sock, pytest.raises(OSError, match=BLOCKED) as info:
        sock.settimeout(1)
        sock.connect(UNROUTABLE)
    assert type(info.value).__name__ == "NetworkBlockedError"
    assert "192.0.2.1:80" in str(info.value)


def test_connect_ex_is_blocked():
    with socket.socket() as sock, pytest.raises(OSError, match=BLOCKED):
        sock.settimeout(1)
        sock.connect_ex(UNROUTABLE)


def test_connect_ipv6_is_blocked():
    try:
        sock = socket.socket(socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 on this machine")
    with sock, pytest.raises(OSError, match=BLOCKED):
        sock.settimeout(1)
        sock.connect(("2001:db8::1", 80))


def test_create_connection_and_name_lookup_are_blocked():
    with pytest.raises(OSError, match=f"{BLOCKED} \\(tried to reach 192.0.2.1:80\\)"):
        socket.create_connection(UNROUTABLE, timeout=1)
    with pytest.raises(OSError, match="tried to reach example.org:443"):
        socket.getaddrinfo("example.org", 443)


def test_urllib_download_is_blocked():
    with pytest.raises(urllib.error.URLError, match=BLOCKED):
        urllib.request.urlopen("https://example.org/data.zip", timeout=1)


def test_loopback_and_unix_sockets_still_work(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, port), timeout=5):
                pass
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) == 0
    if not hasattr(socket, "AF_UNIX"):
        return
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen()
        client.connect(path)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        (b"127.0.0.1", True),
        ("0.0.0.0", True),
        ("10.0.0.1", False),
        ("93.184.216.34", False),
        ("2001:db8::1", False),
        ("example.org", False),
        ("localhost.example.org", False),
    ],
)
def test_is_loopback(host, allowed):
    assert _guard_module().is_loopback(host) is allowed


def test_subprocess_inherits_the_guard():
    code = (
        "import socket\n"
        "for call in (lambda: socket.create_connection(('192.0.2.1', 80), timeout=1),\n"
        "             lambda: socket.getaddrinfo('example.org', 443)):\n"
        "    try:\n"
        "        call()\n"
        "        print('CONNECTED')\n"
        "    except OSError as error:\n"
        "        print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(BLOCKED in line for line in lines), result.stdout


def test_notebook_kernel_inherits_the_guard_and_settings(tmp_path):
    """Same kernel as nbval --nbval-current-env: blocked, no colours, same environment."""
    check_guard = (
        "import os, socket\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
        "    message = 'connected'\n"
        "except OSError as error:\n"
        "    message = str(error)\n"
        f"assert {BLOCKED!r} in message, message\n"
        "print(os.environ['COURSE_FAST'], os.environ['MPLBACKEND'])"
    )
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(check_guard), nbformat.v4.new_code_cell("1 / 0")]
    )
    km = KernelManager(
        kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager()
    )
    client = NotebookClient(
        nb, km=km, timeout=120, allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    first, second = (cell.outputs for cell in nb.cells)
    assert [o.output_type for o in first] == ["stream"], first
    assert first[0].text.split() == [os.environ["COURSE_FAST"], "Agg"]
    traceback = "\n".join(second[0].traceback)
    assert "ZeroDivisionError" in traceback
    assert "\x1b[" not in traceback, "IPython tracebacks should have no colour codes"
