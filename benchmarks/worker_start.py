"""Process start to first receive: ``python -m melange worker`` against Dramatiq's worker.

Both workers consume the same empty queue on fauxqs, each the smallest application of its
kind (``benchmarks/apps/``): melange's is ``python -m melange worker
benchmarks.apps.melange_worker:graph`` (``MELANGE_BACKEND=local``, one consumer, one
worker thread, 1 s long polls); Dramatiq's is ``python -m dramatiq
benchmarks.apps.dramatiq_worker --processes 1 --threads 1`` (``dramatiq-sqs``'s
``SQSBroker``, one actor; its consumer long-polls 1 s too).

Each runs behind a counting proxy of this script's own: a TCP relay on 127.0.0.1 in front
of fauxqs that notes when each SQS request's first bytes arrive (the ``X-Amz-Target``
header names the operation). The figure is the time from just before the process is
started (``subprocess.Popen``) to the arrival of its first ``ReceiveMessage``: imports,
wiring, connecting and every request before the first receive are in it, and nothing after.
The requests each worker sent before that are printed beside it. Then the process group is
sent SIGTERM and reaped before the next start, so only one worker runs at a time.

The children share this interpreter and its environment (the ``bench`` dependency group
installs Dramatiq beside melange, so both load the same boto3), and their bytecode is
cached in a private ``PYTHONPYCACHEPREFIX`` filled by one untimed start of each, as a
deployed service starts. The two alternate, ``--rounds`` times each, first one then the
other; the medians are compared (target: melange at most 1.1x Dramatiq's time). A bare
interpreter (``python -c pass``, start to exit) is timed alike for scale.

It prints PASS/FAIL lines and exits 0 unless something breaks (then it raises); without
Dramatiq installed it times melange alone and says so.
Run from the repository root: ``.venv/bin/python benchmarks/worker_start.py``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.publish import fresh_queue, machine_header, running_backend, verdict

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.1
DEADLINE_SECONDS = 60.0  # a worker that has not received by then is broken
#: An SQS request's operation: the JSON protocol's target header, or the query's Action.
OPERATION = re.compile(rb"X-Amz-Target:\s*AmazonSQS\.(\w+)|[?&\r\n]Action=(\w+)", re.IGNORECASE)
#: The longest stretch of a request a match can span, kept across reads.
OVERLAP = 64

COMMANDS = {
    "melange": [
        sys.executable,
        "-m",
        "melange",
        "worker",
        "benchmarks.apps.melange_worker:graph",
    ],
    "dramatiq": [
        sys.executable,
        "-m",
        "dramatiq",
        "benchmarks.apps.dramatiq_worker",
        "--processes",
        "1",
        "--threads",
        "1",
    ],
}


# -- the counting proxy ---------------------------------------------------------------------


class CountingProxy:
    """A TCP relay on 127.0.0.1 to ``upstream`` noting when each SQS request arrives.

    Attributes:
        arrivals: ``(time.perf_counter(), operation)`` for every request seen, in order.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.arrivals: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)  # lets the accept loop notice close()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="proxy", daemon=True)
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        """Where the workers send their requests."""
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def mark(self) -> int:
        """Return how many requests arrived so far (where the next run's begin)."""
        with self._lock:
            return len(self.arrivals)

    def wait_for(
        self, operation: str, since: int, alive: Callable[[], bool]
    ) -> tuple[float, list[str]]:
        """Wait for ``operation`` after the first ``since`` requests; return its arrival time.

        Also returns the operations that arrived before it, from ``since`` on.

        Raises:
            RuntimeError: ``alive()`` turned false, or the deadline passed, first.
        """
        deadline = time.monotonic() + DEADLINE_SECONDS
        with self._arrived:
            while True:
                seen = self.arrivals[since:]
                for index, (arrived, name) in enumerate(seen):
                    if name == operation:
                        return arrived, [name for _, name in seen[:index]]
                if not alive() or time.monotonic() > deadline:
                    names = [name for _, name in seen]
                    raise RuntimeError(f"no {operation} arrived; requests seen: {names}")
                self._arrived.wait(0.05)

    def close(self) -> None:
        """Stop accepting; relays already running end with their connections."""
        self._stopped.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        answers = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        answers.start()
        self._pump(client, upstream, watch=True)
        answers.join(timeout=5)

    def _pump(self, source: socket.socket, sink: socket.socket, *, watch: bool = False) -> None:
        """Copy ``source`` to ``sink`` until either closes; if ``watch``, note the requests."""
        tail = b""
        try:
            while data := source.recv(65536):
                if watch:
                    self._note(time.perf_counter(), tail, data)
                    tail = (tail + data)[-OVERLAP:]
                sink.sendall(data)
        except OSError:
            pass  # a worker killed mid-request, or the other pump closed the sockets
        finally:
            for end in (source, sink):
                end.close()

    def _note(self, now: float, tail: bytes, data: bytes) -> None:
        window = tail + data
        found = [
            (match[1] or match[2]).decode()
            for match in OPERATION.finditer(window)
            if match.end() > len(tail)  # not one already noted from the last read
        ]
        if found:
            with self._arrived:
                self.arrivals.extend((now, name) for name in found)
                self._arrived.notify_all()


# -- starting and stopping the workers -------------------------------------------------------


@attrs.frozen
class Started:
    """One start of a worker: seconds to its first receive, and the requests before it."""

    seconds: float
    before: tuple[str, ...]


def child_env(proxy: CountingProxy, queue: str, pycache: str) -> dict[str, str]:
    """Return both workers' environment: the checkout importable, settings, cached bytecode."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MELANGE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONPYCACHEPREFIX"] = pycache
    env["BENCH_QUEUE"] = queue
    env["BENCH_ENDPOINT_URL"] = proxy.endpoint_url
    env["MELANGE_BACKEND"] = "local"
    env["MELANGE_ENDPOINT_URL"] = proxy.endpoint_url
    env["MELANGE_WAIT_TIME_SECONDS"] = "1"
    return env


def start_once(way: str, env: dict[str, str], proxy: CountingProxy, log: Path) -> Started:
    """Start ``way``'s worker, wait for its first ReceiveMessage, stop it; return the figures.

    Raises:
        RuntimeError: the worker exited or never received (its log's end is in the message).
    """
    since = proxy.mark()
    with log.open("wb") as output:
        began = time.perf_counter()
        process = subprocess.Popen(
            COMMANDS[way],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Dramatiq forks a worker process
        )
        try:
            arrived, before = proxy.wait_for(
                "ReceiveMessage", since, lambda: process.poll() is None
            )
        except RuntimeError as exc:
            raise RuntimeError(f"{way}: {exc}\n{log.read_text()[-3000:]}") from None
        finally:
            stop(process)
    return Started(arrived - began, tuple(before))


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker's process group, wait for it, SIGKILL the group if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass  # already gone
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def bare_interpreter(env: dict[str, str]) -> float:
    """Return the seconds ``python -c pass`` takes from start to exit."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - began


# -- the comparison -------------------------------------------------------------------------


def dramatiq_missing() -> str | None:
    """Return why Dramatiq's worker cannot run here, or ``None`` if it can."""
    missing = [name for name in ("dramatiq", "dramatiq_sqs") if not importlib.util.find_spec(name)]
    if missing:
        return (
            f"{' and '.join(missing)} not installed in {sys.executable}; "
            "`make bench` installs them (the bench dependency group)"
        )
    return None


def versions() -> str:
    """Return the versions of what is compared, for the header."""
    found = []
    for name in ("dramatiq", "dramatiq-sqs"):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


def bench_worker_start(rounds: int) -> None:
    """Start each worker ``rounds`` times, alternating; print medians and the verdict."""
    problem = dramatiq_missing()
    ways = ("melange",) if problem else ("melange", "dramatiq")
    with (
        running_backend("fauxqs") as backend,
        tempfile.TemporaryDirectory(prefix="melange-bench-start-") as tmp,
    ):
        queue, _ = fresh_queue(backend, "worker-start")
        host, port = backend.sqs_client.meta.endpoint_url.split("://")[-1].rsplit(":", 1)
        proxy = CountingProxy((host, int(port)))
        try:
            env = child_env(proxy, queue, str(Path(tmp) / "pycache"))
            for way in ways:  # untimed: fills the bytecode cache and the disk cache
                start_once(way, env, proxy, Path(tmp) / f"{way}-warm-up.log")
            runs: dict[str, list[Started]] = {way: [] for way in ways}
            bare: list[float] = []
            for number in range(rounds):
                for way in ways if number % 2 == 0 else ways[::-1]:
                    log = Path(tmp) / f"{way}-{number}.log"
                    runs[way].append(start_once(way, env, proxy, log))
                bare.append(bare_interpreter(env))
        finally:
            proxy.close()
    report(queue, rounds, runs, bare, problem)


def report(
    queue: str,
    rounds: int,
    runs: dict[str, list[Started]],
    bare: list[float],
    problem: str | None,
) -> None:
    """Print each worker's start-up figures and the verdict."""
    print(
        f"\n== worker start: process start to first ReceiveMessage at fauxqs, queue {queue!r}, "
        f"median of {rounds} alternating starts each =="
    )
    medians = {way: statistics.median(run.seconds for run in found) for way, found in runs.items()}
    for way, found in runs.items():
        samples = ", ".join(f"{1000 * run.seconds:.0f}" for run in found)
        before = ", ".join(found[-1].before) or "none"
        print(
            f"{way:<15}{1000 * medians[way]:>7.0f} ms  (all: {samples} ms); "
            f"requests before the first receive: {before}"
        )
    print(f"{'python -c pass':<15}{1000 * statistics.median(bare):>7.0f} ms  (start to exit)")
    if problem is not None:
        print(f"SKIP  melange worker at most {TARGET_RATIO}x Dramatiq's start-up: {problem}")
        return
    ratio = medians["melange"] / medians["dramatiq"]
    verdict(
        f"melange worker's start to first receive at most {TARGET_RATIO}x Dramatiq's: "
        f"{ratio:.3f}x ({1000 * medians['melange']:.0f} vs {1000 * medians['dramatiq']:.0f} ms)",
        ratio <= TARGET_RATIO,
    )


def main() -> int:
    """Parse the options, run the comparison and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="starts of each worker; medians")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    machine_header("benchmarks/worker_start.py")
    print(f"# {versions()}")
    bench_worker_start(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
