"""Getting started runs as the page shows: in one process, on a server, and its tests pass.

The page shows real output. Order ids are random UUIDs, so they are compared by the
order in which they first appear; the worker's handlers run in two threads, so its lines
are compared as a set.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.doc_snippets import ROOT, SNIPPETS, clean_environment, run_snippet, shown_output
from tests.support.polling import poll_until
from tests.support.servers import MotoServer, free_port

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TARGET = "examples.orders:graph"


def numbering(text: str) -> dict[str, str]:
    """Return each UUID of ``text`` mapped to ``#1``, ``#2``... in order of first appearance."""
    ids: dict[str, str] = {}
    for found in UUID.findall(text):
        ids.setdefault(found, f"#{len(ids) + 1}")
    return ids


def numbered(text: str, ids: dict[str, str] | None = None) -> list[str]:
    """Return the lines of ``text`` with its UUIDs numbered (by ``ids``, else its own order)."""
    names = numbering(text) if ids is None else ids
    return UUID.sub(lambda found: names.get(found.group(), "#?"), text).splitlines()


def test_the_one_process_run_prints_what_the_page_shows() -> None:
    """`python -m examples.orders` declares, places three orders, pays them, ships two."""
    done = subprocess.run(
        [sys.executable, "-m", "examples.orders"],
        cwd=ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    real, shown = numbered(done.stdout), numbered(shown_output("getting-started/run.out"))

    handled = real.index("3. the worker consumes 'payments', 'shipping-eu':")
    assert real[:handled] == shown[:handled]  # settings, declarations, orders placed
    assert sorted(real[handled:-1]) == sorted(shown[handled:-1])  # two threads' lines
    assert real[-1] == shown[-1] == "4. done: 3 orders placed, 3 paid, 2 shipped (EU only)"


def http_get(port: int, path: str) -> tuple[int, str]:
    """GET ``path`` on 127.0.0.1:``port``; return the status and body (0: no answer)."""
    try:
        url = f"http://127.0.0.1:{port}{path}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()
    except OSError:
        return 0, ""


@pytest.mark.integration
def test_declare_worker_and_placed_orders_on_a_server_print_what_the_page_shows(
    moto_server: MotoServer, unique: str, tmp_path: Path
) -> None:
    """The page's declare, worker and orders print what it shows; SIGTERM exits 0."""
    settings = {
        "MELANGE_ENV": "local",  # config/local.env, as on the page
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,  # this session's server
        "MELANGE_PREFIX": f"{unique}-",  # names of this test only
        "MELANGE_DEDUP": "memory",  # local.env names compose.yaml's Redis
        "MELANGE_WAIT_TIME_SECONDS": "1",  # SIGTERM stops within a second
        "MELANGE_BACKOFF_BASE": "0",  # the declined order's retries come at once
    }
    environment = clean_environment(settings)
    command = [sys.executable, "-m", "melange"]
    declared = subprocess.run(
        [*command, "declare", TARGET],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert declared.returncode == 0, declared.stderr
    # declare names what it made as the broker knows them: with this test's prefix.
    assert declared.stdout.replace(f"'{unique}-", "'") == shown_output(
        "getting-started/declare.out"
    )

    port = free_port()
    out_path, err_path = tmp_path / "worker.out", tmp_path / "worker.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        worker = subprocess.Popen(
            [*command, "worker", TARGET, "--http-port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=err,
        )
    try:
        ready = poll_until(lambda: http_get(port, "/readyz"), lambda got: got[0] == 200)
        assert ready[1] == shown_output("getting-started/readyz.out")
        assert http_get(port, "/healthz") == (200, shown_output("getting-started/healthz.out"))

        placed = run_snippet(
            "getting-started/place_orders.py", {**settings, "PYTHONPATH": str(ROOT)}
        )
        shown_placed = shown_output("getting-started/place_orders.out")
        assert numbered(placed) == numbered(shown_placed)

        shown_lines = numbered(shown_output("getting-started/worker.out"), numbering(shown_placed))
        printed = poll_until(
            lambda: out_path.read_text(encoding="utf-8"),
            lambda text: len(text.splitlines()) >= len(shown_lines),
            timeout=60,
            message="the worker paying, shipping and retrying the three orders",
        )
        assert sorted(numbered(printed, numbering(placed))) == sorted(shown_lines)
        poll_until(
            lambda: err_path.read_text(encoding="utf-8"),
            lambda log: (
                "is dead-lettered (PaymentDeclinedError: 2500.00 is over the card limit "
                "1000); moving it to 'payments-dlq'" in log
            ),
            message="the declined order dead-lettered",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, err_path.read_text(encoding="utf-8")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)


def test_the_tests_on_the_page_pass_as_written(tmp_path: Path) -> None:
    """The page's conftest.py and test_orders.py, copied into a project of their own, pass."""
    shutil.copytree(
        SNIPPETS / "getting-started" / "tests",
        tmp_path / "tests",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env=clean_environment({"PYTHONPATH": str(ROOT)}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b4 passed\b", done.stdout), done.stdout
