"""``python -m melange queues`` and ``dlq show|redrive|purge`` on moto and fauxqs, as subprocesses.

Dead letters are made the real way: ``tests/ops_app.py``'s handler fails, its queue
allows one receive, and melange's dispatcher (a worker run in this process) sends each
message to the dead-letter queue with its ``melange_error``. Neither emulator implements
``StartMessageMoveTask`` (moto answers HTTP 500, fauxqs lists it unsupported), so every
redrive here runs the receive/send/delete path, which the JSON output confirms.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from melange import Application, QueuePublisher, wire
from melange.backends.inspection import QueueStats, inspection_of
from melange.backends.protocol import MessagingBackend
from melange.messages import ReceivedMessage
from melange.settings import load_settings
from melange_bindings import ObjectGraph
from tests.integration.test_cli import command_environment
from tests.ops_app import WORK, WORK_DLQ, WORK_FIFO, WORK_FIFO_DLQ, Job, build_graph
from tests.support.polling import poll_until
from tests.support.servers import FauxqsServer, LocalStackServer, MotoServer

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]
TARGET = "tests.ops_app:graph"
MELANGE = [sys.executable, "-m", "melange"]


@pytest.fixture(name="environment", params=["moto", "fauxqs"])
def fixture_environment(request: pytest.FixtureRequest, unique: str) -> dict[str, str]:
    """Give the MELANGE_* variables reaching moto or fauxqs under a prefix unique to the test."""
    server: MotoServer | FauxqsServer = request.getfixturevalue(f"{request.param}_server")
    return {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": server.endpoint_url,
        "MELANGE_PREFIX": f"{unique}-",
        "MELANGE_WAIT_TIME_SECONDS": "1",
    }


@pytest.fixture(name="graph")
def fixture_graph(environment: dict[str, str]) -> Iterator[ObjectGraph]:
    """Give the failing application's graph on that broker, its queues declared."""
    graph = build_graph(settings=load_settings(environ=environment))
    app: Application = graph.provide(Application)
    app.declare()
    yield graph
    app.backend.close()


@pytest.fixture(name="app")
def fixture_app(graph: ObjectGraph) -> Application:
    """Give the failing application."""
    app: Application = graph.provide(Application)
    return app


def ops_environment(environment: dict[str, str]) -> dict[str, str]:
    """Return the command's environment: the test's settings."""
    return command_environment(**environment)


def run(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m melange args`` from the repository to completion."""
    return subprocess.run(
        [*MELANGE, *args],
        cwd=REPOSITORY,
        env=ops_environment(environment),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stats(backend: MessagingBackend, queue: str) -> QueueStats:
    """Return a queue's counts."""
    return inspection_of(backend).queue_stats(queue)


def dead_letter_jobs(graph: ObjectGraph, queue: str, dead: str, count: int) -> None:
    """Publish ``count`` jobs and run the worker until its failures dead-lettered them all."""
    app: Application = graph.provide(Application)
    publisher: QueuePublisher = graph.provide(QueuePublisher)
    group = "jobs" if queue.endswith(".fifo") else None
    for number in range(count):
        publisher.publish(queue, Job(number), message_group_id=group)
    worker = app.worker([queue])
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        poll_until(
            lambda: stats(app.backend, dead).depth,
            lambda depth: depth >= count,
            timeout=60,
            message=f"{count} dead letters on {dead}",
        )
    finally:
        app.stop()
        thread.join(timeout=30)


def job_numbers(backend: MessagingBackend, queue: str) -> list[int]:
    """Receive and delete every message of ``queue``; return the job numbers, in order."""
    numbers: list[int] = []
    while batch := backend.receive(queue, max_messages=10, wait_time_seconds=1):
        backend.acknowledge(queue, [m.receipt_handle for m in batch])
        numbers.extend(job_number(m) for m in batch)
    return numbers


def job_number(message: ReceivedMessage) -> int:
    """Return the number of the job a received message carries."""
    number: int = json.loads(wire.unwrap(message).content)["number"]
    return number


def test_queues_shows_the_applications_queues_and_their_dead_letter_depth(
    graph: ObjectGraph, environment: dict[str, str]
) -> None:
    """``queues TARGET --json``: each queue's counts, its DLQ, and that DLQ's depth."""
    dead_letter_jobs(graph, WORK, WORK_DLQ, 2)

    ran = run(environment, "queues", TARGET, "--json")

    assert ran.returncode == 0, ran.stderr
    rows = {row["queue"]: row for row in json.loads(ran.stdout)["queues"]}
    assert rows[WORK] == {
        "queue": WORK,
        "depth": 0,
        "in_flight": 0,
        "delayed": 0,
        "oldest_age_seconds": None,
        "dead_letter_queue": WORK_DLQ,
        "dead_letter_depth": 2,
    }
    assert rows[WORK_FIFO]["dead_letter_queue"] == WORK_FIFO_DLQ


def test_queues_all_lists_every_queue_of_the_prefix_as_plain_text(
    app: Application, environment: dict[str, str]
) -> None:
    """``queues --all`` piped: an aligned table of the prefix's queues and a note on ages."""
    ran = run(environment, "queues", "--all")

    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].split() == [
        "queue",
        "depth",
        "in",
        "flight",
        "delayed",
        "oldest",
        "dead-letter",
        "queue",
        "dlq",
        "depth",
    ]
    assert sorted(line.split()[0] for line in lines[1:5]) == sorted(
        [WORK, WORK_DLQ, WORK_FIFO, WORK_FIFO_DLQ]
    )
    assert "CloudWatch" in lines[-1]


def test_dlq_show_tells_reason_type_and_receives_and_leaves_the_messages(
    graph: ObjectGraph, app: Application, environment: dict[str, str]
) -> None:
    """``dlq show``: each dead letter's melange_error, manifest, receive count; all stay."""
    dead_letter_jobs(graph, WORK, WORK_DLQ, 3)

    shown = run(environment, "dlq", "show", WORK, "--json")
    plain = run(environment, "dlq", "show", WORK, "--limit", "2")

    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert (document["dead_letter_queue"], document["depth"]) == (WORK_DLQ, 3)
    reasons = sorted(m["reason"] for m in document["messages"])
    assert reasons == [f"ValueError: job {n} hit the bug" for n in range(3)]
    assert {m["manifest"] for m in document["messages"]} == {"tests.ops_app:Job"}
    assert all(m["receive_count"] >= 1 and m["sent_at"] for m in document["messages"])
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.count("reason: ValueError") == 2
    assert "ApproximateReceiveCount" in plain.stdout.splitlines()[-1]
    assert poll_until(lambda: stats(app.backend, WORK_DLQ).depth, lambda d: d == 3, timeout=10)


def test_dlq_show_names_each_dead_letter_by_the_message_id_the_worker_logged(
    graph: ObjectGraph, environment: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """``dlq show``: the message_id of the worker's log lines; the body only with --body."""
    with caplog.at_level(logging.ERROR, logger="melange.consuming.handling"):
        dead_letter_jobs(graph, WORK, WORK_DLQ, 2)
    logged = {r.message_id: r.reason for r in caplog.records if hasattr(r, "reason")}

    shown = run(environment, "dlq", "show", WORK, "--json")
    with_bodies = run(environment, "dlq", "show", WORK, "--json", "--body")
    plain = run(environment, "dlq", "show", WORK)
    plain_bodies = run(environment, "dlq", "show", WORK, "--body")

    assert len(logged) == 2
    letters = json.loads(shown.stdout)["messages"]
    assert {m["message_id"]: m["reason"] for m in letters} == logged
    assert not any("body" in m for m in letters)
    bodies = [json.loads(m["body"]) for m in json.loads(with_bodies.stdout)["messages"]]
    assert sorted(b["number"] for b in bodies) == [0, 1]
    for message_id in logged:
        assert f"message_id {message_id}  receives " in plain.stdout
    assert "body" not in plain.stdout
    shown_bodies = [
        json.loads(line.removeprefix("   body: "))
        for line in plain_bodies.stdout.splitlines()
        if line.startswith("   body: ")
    ]
    assert sorted(b["number"] for b in shown_bodies) == [0, 1]
    assert max(len(line) for line in plain_bodies.stdout.splitlines()) <= 80


def test_a_misspelt_queue_gets_a_did_you_mean(
    app: Application, environment: dict[str, str]
) -> None:
    """``dlq show wrok``: exit 1, one line naming the queue it probably meant."""
    ran = run(environment, "dlq", "show", "wrok")

    assert ran.returncode == 1
    assert "queue 'wrok' (broker name " in ran.stderr
    assert "does not exist; did you mean 'work'?" in ran.stderr
    assert len(ran.stderr.splitlines()) == 1


def test_dlq_redrive_moves_every_dead_letter_back_after_a_dry_run_that_moves_none(
    graph: ObjectGraph, app: Application, environment: dict[str, str]
) -> None:
    """A dry run moves nothing; the redrive copies all back (no move task on the emulators)."""
    dead_letter_jobs(graph, WORK, WORK_DLQ, 3)

    dry = run(environment, "dlq", "redrive", WORK, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would move 3 messages" in dry.stdout
    assert stats(app.backend, WORK_DLQ).depth == 3
    moved = run(environment, "dlq", "redrive", WORK, "--json")

    assert moved.returncode == 0, moved.stderr
    outcome = json.loads(moved.stdout)
    assert outcome | {"to_move": 3} == {
        "queue": WORK,
        "dead_letter_queue": WORK_DLQ,
        "method": "copy",
        "to_move": 3,
        "moved": 3,
        "not_deleted": 0,
        "interrupted": False,
        "left": 0,
        "left_visible": 0,
        "left_in_flight": 0,
        "left_delayed": 0,
        "visible_again_within_seconds": None,
    }
    assert sorted(job_numbers(app.backend, WORK)) == [0, 1, 2]


def test_a_redrive_interrupted_by_sigint_and_rerun_loses_and_duplicates_nothing(
    graph: ObjectGraph, app: Application, environment: dict[str, str], tmp_path: Path
) -> None:
    """SIGINT halfway: exit 130, the rest stays on the DLQ; a rerun moves it; each job once."""
    count = 10
    dead_letter_jobs(graph, WORK, WORK_DLQ, count)
    stdout_path = tmp_path / "redrive.stdout"
    with stdout_path.open("wb") as stdout:
        redrive = subprocess.Popen(
            [*MELANGE, "dlq", "redrive", WORK, "--rate", "2"],
            cwd=REPOSITORY,
            env=ops_environment(environment),
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )
    try:
        poll_until(
            lambda: stats(app.backend, WORK).depth,
            lambda depth: depth >= 3,
            timeout=60,
            message="three messages moved back",
        )
        redrive.send_signal(signal.SIGINT)
        assert redrive.wait(timeout=30) == 130, stdout_path.read_text(encoding="utf-8")
    finally:
        if redrive.poll() is None:
            redrive.kill()
            redrive.wait(timeout=10)
    interrupted = stdout_path.read_text(encoding="utf-8")
    assert "interrupted: moved" in interrupted
    # Released at once: what was received and not moved is visible again, not in flight.
    left = poll_until(lambda: stats(app.backend, WORK_DLQ), lambda s: s.in_flight == 0, timeout=10)
    assert 0 < left.depth < count

    rerun = run(environment, "dlq", "redrive", WORK, "--json")

    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["left"] == 0
    # A graceful stop finishes the message it is on, so not even one is duplicated.
    assert sorted(job_numbers(app.backend, WORK)) == list(range(count))


def hold(backend: MessagingBackend, queue: str, count: int) -> list[str]:
    """Receive ``count`` messages and neither delete nor release them, as a killed redrive does."""
    handles: list[str] = []

    def receive_more() -> int:
        wanted = min(10, count - len(handles))
        batch = backend.receive(queue, max_messages=wanted, visibility_timeout=300)
        handles.extend(m.receipt_handle for m in batch)
        return len(handles)

    poll_until(receive_more, lambda n: n >= count, timeout=30, message=f"{count} held")
    return handles


def test_a_rerun_after_a_killed_redrive_counts_the_dead_letters_still_in_flight(
    graph: ObjectGraph, app: Application, environment: dict[str, str]
) -> None:
    """A rerun says how many dead letters are left, those still hidden in flight included.

    A redrive killed by SIGKILL, or cut off by the network, leaves the batch it received
    hidden on the DLQ until the receive's visibility timeout ends. AWS counts such messages
    in ``ApproximateNumberOfMessagesNotVisible`` ("messages that are in flight": received,
    not yet deleted, not yet visible again), not in ``ApproximateNumberOfMessages``; moto
    and fauxqs count them the same way. A rerun that reported only the visible ones said
    "0 left" while they were still there, and the operator stopped.
    """
    dead_letter_jobs(graph, WORK, WORK_DLQ, 4)
    held = hold(app.backend, WORK_DLQ, 3)

    rerun = run(environment, "dlq", "redrive", WORK, "--json")
    again = run(environment, "dlq", "redrive", WORK)

    assert rerun.returncode == 0, rerun.stderr
    outcome = json.loads(rerun.stdout)
    assert (outcome["moved"], outcome["left"]) == (1, 3)
    assert (outcome["left_visible"], outcome["left_in_flight"]) == (0, 3)
    assert outcome["visible_again_within_seconds"] == 30
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1].endswith(
        f"; 3 left on {WORK_DLQ!r}: 0 visible, 3 in flight (visible again within 30 s); "
        "run it again after that to move them"
    )
    # Once they are visible again, a rerun moves them: nothing was lost.
    assert app.backend.change_visibility(WORK_DLQ, held, 0) == []
    last = run(environment, "dlq", "redrive", WORK, "--json")
    assert (json.loads(last.stdout)["moved"], json.loads(last.stdout)["left"]) == (3, 0)
    assert sorted(job_numbers(app.backend, WORK)) == [0, 1, 2, 3]


def test_a_fifo_redrive_copies_in_order_within_the_group(
    graph: ObjectGraph,
    app: Application,
    environment: dict[str, str],
) -> None:
    """FIFO dead letters are copied back (never a move task), in their group's order."""
    dead_letter_jobs(graph, WORK_FIFO, WORK_FIFO_DLQ, 4)

    moved = run(environment, "dlq", "redrive", WORK_FIFO, "--json")

    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["method"] == "copy"
    assert job_numbers(app.backend, WORK_FIFO) == [0, 1, 2, 3]


def test_dlq_purge_asks_for_yes_then_empties_the_dead_letter_queue(
    graph: ObjectGraph, app: Application, environment: dict[str, str]
) -> None:
    """Without --yes: exit 2 and nothing deleted; with it: the DLQ empties."""
    dead_letter_jobs(graph, WORK, WORK_DLQ, 2)

    refused = run(environment, "dlq", "purge", WORK)
    assert refused.returncode == 2
    assert "add --yes" in refused.stderr
    assert stats(app.backend, WORK_DLQ).depth == 2
    purged = run(environment, "dlq", "purge", WORK, "--yes")

    assert purged.returncode == 0, purged.stderr
    assert f"purged {WORK_DLQ!r}: 2 messages deleted" in purged.stdout
    poll_until(lambda: stats(app.backend, WORK_DLQ).total, lambda n: n == 0, timeout=70)


def test_naming_the_dead_letter_queue_itself_exits_1_saying_what_to_name(
    app: Application, environment: dict[str, str]
) -> None:
    """The dlq commands take the source queue; its DLQ has no policy: exit 1, one line."""
    ran = run(environment, "dlq", "show", WORK_DLQ)

    assert ran.returncode == 1
    assert f"{WORK_DLQ!r} has no dead-letter queue" in ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.localstack
def test_on_localstack_the_broker_moves_the_dead_letters_with_a_move_task(
    localstack_server: LocalStackServer, unique: str
) -> None:
    """LocalStack implements StartMessageMoveTask: ``--method move-task`` lets the broker move."""
    environment = {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": localstack_server.endpoint_url,
        "MELANGE_PREFIX": f"{unique}-",
        "MELANGE_WAIT_TIME_SECONDS": "1",
    }
    graph = build_graph(settings=load_settings(environ=environment))
    app: Application = graph.provide(Application)
    app.declare()
    dead_letter_jobs(graph, WORK, WORK_DLQ, 3)

    moved = run(environment, "dlq", "redrive", WORK, "--method", "move-task", "--json")

    assert moved.returncode == 0, moved.stderr
    outcome = json.loads(moved.stdout)
    assert (outcome["method"], outcome["moved"], outcome["left"]) == ("move-task", 3, 0)
    assert sorted(job_numbers(app.backend, WORK)) == [0, 1, 2]
