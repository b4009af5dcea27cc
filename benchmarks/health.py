"""The health endpoint under hostile clients: probe latency, a burst, threads and memory.

The endpoint (``HealthServer``, as ``python -m melange worker --http-port`` starts it) runs
in a child process (this script with ``--serve``), with one queue registered as live, so
that the clients below do not share its interpreter; the figures read from
``/proc/<pid>/status`` are the child's own. Every probe is a raw ``GET /healthz
HTTP/1.1`` on a new connection, timed from ``connect`` to the server's close.

* ``idle``: ``--probes`` probes one after the other, nothing else connected;
* ``flood``: ``--idle`` connections opened one after the other (the time this takes is
  printed: a full listen backlog drops SYNs, which are resent a second later) and left
  silent, plus a trickler (a thread sending one byte of a header every 2 s, reconnecting
  when cut off), then the same probes again. The child's threads and RSS (``VmRSS``) are
  read before and while it is flooded;
* ``burst``: ``--burst`` connections opened at once without waiting (non-blocking
  ``connect``), each sending its request as soon as it can; the time until the last answer,
  how many were answered, and how many segments the kernel had to send again on them
  (``tcpi_total_retrans``: a SYN dropped because the listen backlog was full is resent
  after a second).

Targets: the flood adds no thread; every probe under the flood is answered within 1 s (a
probe queued behind a dropped SYN waits at least that); every connection of the burst is
answered with none of them resent. It prints PASS/FAIL lines and exits 0 unless something
breaks, as the other benchmark scripts do.

Run from the repository root: ``.venv/bin/python benchmarks/health.py``.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.publish import machine_header, verdict

PROBE = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"


def serve() -> None:
    """In the child: serve the endpoint on a free port, print it, and run until stdin ends."""
    from melange.telemetry.activity import RUNNING, QueueActivity
    from melange.telemetry.health import HealthServer

    RUNNING.register(QueueActivity("q", 20, waiting_for_room=True))  # live for good
    server = HealthServer(["q"], metrics_text=lambda: "x_total 1\n").start()
    print(server.port, flush=True)
    sys.stdin.read()
    server.close()


def status_of(pid: int) -> dict[str, str]:
    """Return the fields of ``/proc/<pid>/status``."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {name: value.strip() for name, _, value in (line.partition(":") for line in lines)}


def probe(port: int) -> float:
    """Return the seconds one GET /healthz takes, from connect to the server's close."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(PROBE)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    if not answer.startswith(b"HTTP/1.") or b" 200 " not in answer.split(b"\r\n")[0]:
        raise RuntimeError(f"the probe got {answer[:80]!r}")
    return time.perf_counter() - started


def probes(port: int, count: int) -> list[float]:
    """Return the times of ``count`` probes, one after the other."""
    return [probe(port) for _ in range(count)]


def describe(times: list[float]) -> str:
    """Return the median, 99th percentile and maximum of ``times``, in milliseconds."""
    p99 = statistics.quantiles(times, n=100)[98] if len(times) > 1 else times[0]
    return (
        f"median {statistics.median(times) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, "
        f"max {max(times) * 1e3:.2f} ms"
    )


def trickle(port: int, stop: threading.Event) -> None:
    """Send one byte of a header every 2 s until ``stop``; reconnect when cut off."""
    while not stop.is_set():
        with socket.create_connection(("127.0.0.1", port), timeout=30) as trickler:
            trickler.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
            try:
                while not stop.wait(2.0):
                    trickler.sendall(b"a")
            except OSError:
                pass  # cut off: start again


def retransmissions(connection: socket.socket) -> int:
    """Return how many segments (SYN included) the kernel sent again on ``connection``."""
    info = connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int(struct.unpack_from("I", info, 100)[0])  # struct tcp_info's tcpi_total_retrans


def burst(port: int, count: int) -> tuple[int, float, int]:
    """Open ``count`` connections at once and send each a probe.

    Returns:
        how many were answered, the seconds until the last answer, and how many segments
        the kernel sent again on them.
    """
    connections = [socket.socket() for _ in range(count)]
    selector = selectors.DefaultSelector()
    answered = 0
    started = time.perf_counter()
    last = started
    try:
        for connection in connections:
            connection.setblocking(False)
            connection.connect_ex(("127.0.0.1", port))
            selector.register(connection, selectors.EVENT_WRITE, bytearray())
        while selector.get_map() and time.perf_counter() < started + 30:
            for key, events in selector.select(1):
                connection = key.fileobj
                assert isinstance(connection, socket.socket)
                try:
                    if events & selectors.EVENT_WRITE:
                        connection.sendall(PROBE)
                        selector.modify(connection, selectors.EVENT_READ, key.data)
                        continue
                    chunk = connection.recv(65536)
                except OSError:
                    chunk = b""
                if chunk:
                    key.data.extend(chunk)
                    continue
                selector.unregister(connection)
                if key.data.startswith(b"HTTP/1."):
                    answered += 1
                    last = time.perf_counter()
        resent = sum(retransmissions(c) for c in connections)
    finally:
        selector.close()
        for connection in connections:
            connection.close()
    return answered, last - started, resent


def parse_arguments() -> argparse.Namespace:
    """Return the command line's options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--probes", type=int, default=200, help="probes per phase")
    parser.add_argument("--idle", type=int, default=200, help="idle connections of the flood")
    parser.add_argument("--burst", type=int, default=200, help="connections opened at once")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    """Start the endpoint in a child, measure it under each load, print the figures."""
    args = parse_arguments()
    if args.serve:
        serve()
        return 0
    machine_header("benchmarks/health.py")
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        probes(port, 20)  # first-use imports and caches: untimed
        before = status_of(child.pid)
        idle_times = probes(port, args.probes)
        print(f"idle:  {args.probes} probes: {describe(idle_times)}")

        stop = threading.Event()
        trickler = threading.Thread(target=trickle, args=(port, stop), daemon=True)
        flood_started = time.perf_counter()
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.idle)]
        opened_in = time.perf_counter() - flood_started
        trickler.start()
        try:
            flood_times = probes(port, args.probes)
            flooded = status_of(child.pid)
        finally:
            stop.set()
            for connection in idle:
                connection.close()
            trickler.join()
        opened_ms = opened_in * 1e3
        print(
            f"flood: {args.idle} idle connections opened one after the other in {opened_ms:.1f} ms"
        )
        print(f"flood: {args.probes} probes with them and a trickler open: {describe(flood_times)}")
        threads = (int(before["Threads"]), int(flooded["Threads"]))
        rss_kib = (int(before["VmRSS"].split()[0]), int(flooded["VmRSS"].split()[0]))
        print(f"child threads: {threads[0]} before the flood, {threads[1]} during it")
        print(
            f"child RSS: {rss_kib[0] / 1024:.1f} MiB before the flood, "
            f"{rss_kib[1] / 1024:.1f} MiB during it (+{(rss_kib[1] - rss_kib[0]) / 1024:.2f} MiB)"
        )

        answered, last, resent = burst(port, args.burst)
        print(
            f"burst: {answered} of {args.burst} connections answered, the last after "
            f"{last * 1e3:.1f} ms; {resent} segments sent again"
        )
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    verdict(
        f"the flood adds no thread to the endpoint's process ({threads[1] - threads[0]})",
        threads[0] == threads[1],
    )
    verdict(
        f"every probe under the flood answered within 1 s (max {max(flood_times) * 1e3:.1f} ms)",
        max(flood_times) < 1.0,
    )
    verdict(
        f"every connection of the burst answered, none resent ({answered}/{args.burst}, {resent})",
        answered == args.burst and resent == 0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
