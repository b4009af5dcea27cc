"""The asyncio page: its programs print what it shows, on memory and on a moto server.

The OpenTelemetry worker runs as the page runs it: ``python -m melange worker
traced_worker:graph`` in a subprocess, from the snippet's folder, against moto.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from examples.fastapi_app.events import ORDER_EVENTS, OrderPlaced
from examples.fastapi_app.wiring import graph
from melange import Application, TopicPublisher
from melange.backends import LocalSQSBackend
from melange.settings import DispatcherSettings, MelangeSettings
from tests.docs.run_snippets import ROOT, SNIPPETS, run_snippet, shown_output
from tests.support.polling import poll_until
from tests.support.servers import MotoServer


@pytest.mark.parametrize("snippet", ["asyncio/signups.py", "asyncio/cancellation.py"])
def test_the_programs_print_what_the_page_shows(
    snippet: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """signups.py consumes its 100 messages; cancellation.py lets the handler finish first."""
    run_snippet(snippet)

    assert capsys.readouterr().out == shown_output(snippet)


def test_async_handlers_run_on_the_loop_and_plain_ones_in_threads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """handlers.py: the async def handler runs in the loop's thread, the plain one in a pool."""
    run_snippet("asyncio/handlers.py")

    loop_thread = threading.current_thread().name  # asyncio.run runs the loop here
    expected = shown_output("asyncio/handlers.py").replace("MainThread", loop_thread)
    assert capsys.readouterr().out == expected


@pytest.mark.integration
def test_the_sqs_backend_program_consumes_from_moto(
    moto_server: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """sqs_backend.py declares, publishes to the topic and consumes the copy on its queue."""
    main = run_snippet("asyncio/sqs_backend.py")["main"]
    try:
        asyncio.run(main(moto_server.host, moto_server.port))
    finally:
        backend = LocalSQSBackend(host=moto_server.host, port=moto_server.port)
        for queue in ("invoicing", "invoicing-dlq"):
            backend.delete_queue(queue)
        backend.delete_topic("sales")

    assert capsys.readouterr().out == "invoicing order 42\n"


@pytest.mark.integration
def test_the_traced_worker_exports_melange_spans_and_metrics(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    """The worker started on traced_worker:graph prints the process span and handled count."""
    prefix = f"otel-{uuid.uuid4().hex[:8]}-"  # queue and topic names of this test alone
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")},
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_PREFIX": prefix,
        "MELANGE_WAIT_TIME_SECONDS": "1",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    settings = MelangeSettings(
        backend="local",
        endpoint_url=moto_server.endpoint_url,
        prefix=prefix,
        dispatcher=DispatcherSettings(wait_time_seconds=1),
    )
    objects = graph(settings)
    objects.provide(Application).declare()
    order = OrderPlaced(order_id=uuid.uuid4(), customer="ada", total=Decimal("42.50"))

    with (
        (tmp_path / "worker.log").open("w") as log,
        subprocess.Popen(
            [sys.executable, "-m", "melange", "worker", "traced_worker:graph"],
            cwd=SNIPPETS / "asyncio",  # where the page runs it: the module is imported from here
            env=environment,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        ) as worker,
    ):
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(worker.stdout or ()), daemon=True)
        reader.start()
        try:
            objects.provide(TopicPublisher).publish(ORDER_EVENTS, order)
            poll_until(
                lambda: "".join(lines),
                lambda out: str(order.order_id) in out or worker.poll() is not None,
                timeout=30,
                message=f"the worker fulfilling order {order.order_id}",
            )
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
            reader.join(10)
    output = "".join(lines)
    errors = (tmp_path / "worker.log").read_text()

    assert worker.returncode == 0, errors
    assert f"fulfilment: order {order.order_id} for ada ships" in output, errors
    assert '"name": "process fastapi-fulfilment"' in output, output
    assert '"service.name": "fulfilment-worker"' in output
    assert '"name": "melange.messages.handled"' in output, output
