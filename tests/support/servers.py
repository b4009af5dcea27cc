"""Real servers for tests and benchmarks: moto, fauxqs, LocalStack (SQS/SNS), Redis, on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn, TypeVar

import attrs


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Where ``npm ci`` (``make node-deps``) installs fauxqs, beside its launcher and lock file.
NODE_SERVERS_DIR = Path(__file__).parent
FAUXQS_LAUNCHER = NODE_SERVERS_DIR / "fauxqs_server.mjs"


@attrs.frozen
class ServerProcess:
    """A running emulator process (moto or fauxqs) on a loopback port, and its endpoint."""

    process: subprocess.Popen[bytes]
    host: str
    port: int

    @property
    def endpoint_url(self) -> str:
        """The HTTP endpoint serving both SQS and SNS."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Terminate the server and wait for it to exit."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdin is not None:  # fauxqs's launcher watches it
            self.process.stdin.close()


#: The moto server of the session; moto serves SQS, SNS and STS on one port.
MotoServer = ServerProcess
#: The fauxqs server of the session; fauxqs serves SQS, SNS and STS on one port.
FauxqsServer = ServerProcess


def start_moto_server(log_path: Path, *, timeout: float = 30.0) -> MotoServer:
    """Start ``moto_server`` on a free loopback port and wait until it answers HTTP."""
    port = free_port()
    moto_server = Path(sys.executable).with_name("moto_server")
    command = [str(moto_server)] if moto_server.exists() else [sys.executable, "-m", "moto.server"]
    log = log_path.open("wb")
    process = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    server = MotoServer(process=process, host="127.0.0.1", port=port)
    return wait_until_answering(
        server, "/moto-api/", name="moto_server", log_path=log_path, timeout=timeout
    )


def fauxqs_unavailable() -> str | None:
    """Return ``None`` if fauxqs can be started here, else why not and what to do."""
    if shutil.which("node") is None:
        return (
            "fauxqs needs Node.js 20+, and there is no `node` on PATH: install it, "
            "then run `make node-deps`"
        )
    if not (NODE_SERVERS_DIR / "node_modules" / "fauxqs" / "package.json").is_file():
        return f"fauxqs is not installed in {NODE_SERVERS_DIR}/node_modules; run `make node-deps`"
    return None


def start_fauxqs_server(log_path: Path, *, timeout: float = 30.0) -> FauxqsServer:
    """Start fauxqs on a free port of 127.0.0.1 only and wait until it answers HTTP.

    fauxqs's own command line binds every interface, so a small launcher starts it through
    its programmatic API; the launcher exits when its standard input closes, so it never
    outlives this process. Check ``fauxqs_unavailable()`` first.
    """
    port = free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [shutil.which("node") or "node", str(FAUXQS_LAUNCHER), str(port)],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=NODE_SERVERS_DIR,
    )
    server = FauxqsServer(process=process, host="127.0.0.1", port=port)
    return wait_until_answering(
        server, "/health", name="fauxqs", log_path=log_path, timeout=timeout
    )


#: What runs LocalStack's runtime in its own venv and stops it when its standard input closes.
LOCALSTACK_LAUNCHER = Path(__file__).with_name("localstack_server.py")
#: The interpreter of LocalStack's own venv unless ``LOCALSTACK_TESTS_PYTHON`` names another.
DEFAULT_LOCALSTACK_PYTHON = Path(__file__).parents[2] / ".venv-localstack" / "bin" / "python"
#: LocalStack tests run only when this variable is ``1``, as ``make test-localstack`` sets it.
#: Not ``MELANGE_*``: melange refuses unknown ``MELANGE_`` variables, and the commands the
#: tests start inherit the environment.
LOCALSTACK_OPT_IN_VARIABLE = "LOCALSTACK_TESTS"


def localstack_opted_in(environ: Mapping[str, str] = os.environ) -> bool:
    """Return whether the LocalStack tests were asked for (``LOCALSTACK_TESTS=1``)."""
    return environ.get(LOCALSTACK_OPT_IN_VARIABLE) == "1"


def localstack_python(environ: Mapping[str, str] = os.environ) -> Path:
    """Return the interpreter that has ``localstack-core`` (Python 3.13+), not the project's."""
    # absolute(), not resolve(): the venv's python is a symlink that must stay the venv's.
    return Path(environ.get("LOCALSTACK_TESTS_PYTHON") or DEFAULT_LOCALSTACK_PYTHON).absolute()


def localstack_unavailable() -> str | None:
    """Return ``None`` if LocalStack can be started here, else why not and what to do."""
    python = localstack_python()
    if not python.is_file():
        return f"LocalStack's interpreter {str(python)!r} is missing; run `make test-localstack`"
    probe = subprocess.run(
        [str(python), "-c", "import localstack.runtime.main"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if probe.returncode != 0:
        error = probe.stderr.decode(errors="replace").strip().splitlines()[-1:]
        return (
            f"{str(python)!r} cannot import LocalStack ({''.join(error)}); it needs Python 3.13+"
            " and the pins of `make test-localstack`"
        )
    return None


def localstack_environment(port: int, root: Path) -> dict[str, str]:
    """Return LocalStack's settings for SQS, SNS and STS on ``127.0.0.1:port`` alone.

    In-process, without Docker, keeping no state, and writing only under ``root``.
    """
    return {
        # The default gateway (twisted) binds 0.0.0.0 whatever GATEWAY_LISTEN says.
        "GATEWAY_SERVER": "hypercorn",
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "SERVICES": "sqs,sns,sts",
        "EAGER_SERVICE_LOADING": "1",  # started before the health check answers
        # In a container LocalStack would write to /var/lib/localstack and listen on 0.0.0.0.
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": str(root),
        "CONFIG_DIR": str(root / "config"),  # no profile from ~/.localstack
        "XDG_CACHE_HOME": str(root / "cache"),  # plux's entry-point cache
        "PERSISTENCE": "0",
        "DNS_ADDRESS": "0",  # no DNS server on port 53
        "SKIP_SSL_CERT_DOWNLOAD": "1",  # no fetch from the internet at start
        "DISABLE_EVENTS": "1",  # no analytics
        "PYTHONUNBUFFERED": "1",
    }


@attrs.frozen
class LocalStackServer(ServerProcess):
    """LocalStack in a process group of its own, which ``stop`` ends whole."""

    def stop(self) -> None:
        """Ask LocalStack's process group to stop, kill it after a grace, close the pipe."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break  # the group has exited
            try:
                self.process.wait(timeout=15)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.process.stdin is not None:
            self.process.stdin.close()


def start_localstack_server(log_path: Path, *, timeout: float = 60.0) -> LocalStackServer:
    """Start LocalStack (SQS, SNS, STS) on a free port of 127.0.0.1 only; wait until it answers.

    It runs in its own venv and process group, its state in a directory beside ``log_path``,
    and stops when this process closes its standard input, even if this process dies.
    Check ``localstack_unavailable()`` first.
    """
    port = free_port()
    root = log_path.parent / "localstack-root"
    root.mkdir(exist_ok=True)
    log = log_path.open("wb")
    process = subprocess.Popen(
        # -P: this file's directory (with our requests.py) must not shadow LocalStack's imports.
        [str(localstack_python()), "-P", str(LOCALSTACK_LAUNCHER)],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **localstack_environment(port, root)},
        cwd=root,
        start_new_session=True,
    )
    server = LocalStackServer(process=process, host="127.0.0.1", port=port)
    return wait_until_answering(
        server, "/_localstack/health", name="LocalStack", log_path=log_path, timeout=timeout
    )


_Server = TypeVar("_Server", bound=ServerProcess)


def wait_until_answering(
    server: _Server, path: str, *, name: str, log_path: Path, timeout: float
) -> _Server:
    """Poll ``path`` on ``server`` until it answers HTTP; stop it and raise at the deadline.

    Raises:
        RuntimeError: the process exited, or did not answer within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{name} exited with {server.process.returncode}; see {log_path}")
        try:
            # The URL is built from our own loopback host and port, never from input.
            with urllib.request.urlopen(f"{server.endpoint_url}{path}", timeout=1):  # noqa: S310
                return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)  # poll interval while the server boots
    server.stop()
    raise RuntimeError(f"{name} did not answer within {timeout} s; see {log_path}")


def missing_service(reason: str) -> NoReturn:
    """Skip the test for a service this machine lacks, but fail it under CI (``CI=true``)."""
    import pytest  # here, so the benchmarks can use this module without pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI no test may skip for a missing service", pytrace=False)
    pytest.skip(reason)


def redis_answers(url: str) -> str | None:
    """Return ``None`` if Redis at ``url`` answers PING, else why not."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        return str(exc)
    finally:
        client.close()
    return None


def redis_server_command(port: int) -> list[str]:
    """Return the ``redis-server`` command this project documents: loopback only, no persistence."""
    return [
        "redis-server",
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--save", "",
        "--appendonly", "no",
    ]  # fmt: skip


def wait_for_redis(url: str, *, timeout: float = 10.0) -> str | None:
    """Poll until Redis at ``url`` answers; return ``None`` then, else why not at the deadline."""
    deadline = time.monotonic() + timeout
    while (problem := redis_answers(url)) is not None and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval while the server starts
    return problem


def start_local_redis(url: str, *, timeout: float = 10.0) -> str | None:
    """Start the machine's ``redis-server`` for the default URL if it is down.

    Returns ``None`` once Redis answers, else why not. Only the default loopback URL is
    started, as a daemon that outlives the session (other sessions may share it).
    """
    problem = redis_answers(url)
    if problem is None or url != "redis://127.0.0.1:6379/0" or shutil.which("redis-server") is None:
        return problem
    subprocess.run(
        [*redis_server_command(6379), "--daemonize", "yes"],
        check=False,
        capture_output=True,
        timeout=30,
    )
    return wait_for_redis(url, timeout=timeout)


class PrivateRedis:
    """A ``redis-server`` of a test's own on a free loopback port, started and stopped on demand.

    Attributes:
        port: where it listens (once started).
        url: its Redis URL.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers."""
        self._process = subprocess.Popen(
            redis_server_command(self.port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        problem = wait_for_redis(self.url, timeout=timeout)
        if problem is not None:
            self.stop()
            raise RuntimeError(f"redis-server on {self.url!r} did not answer: {problem}")

    def stop(self) -> None:
        """Stop the server if it runs."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
