"""The Lambda example run through ``python -m melange lambda-local`` on moto, as its page shows.

The session is the one "Running on AWS Lambda" shows (``docs/snippets/lambda/
local_session.out``): each ``$`` line of it is run, from the repository root, under a
prefix of the test's own, and what the commands print is compared with the lines shown
there, the message id and the time aside. Between the two ``lambda-local`` runs the slow
order's retry waits out its backoff (one second), which the second ``--once`` waits for.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from melange.aws_lambda import LambdaHandler
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]
SESSION = REPOSITORY / "docs" / "snippets" / "lambda" / "local_session.out"
#: What differs from one run to the next: ids and times.
VARYING = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<id>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"), "<time>"),
]


def steady(text: str) -> str:
    """Return ``text`` with its ids and times replaced by placeholders."""
    for pattern, placeholder in VARYING:
        text = pattern.sub(placeholder, text)
    return text


def test_the_session_on_the_page_runs_as_shown(moto_server: MotoServer, unique: str) -> None:
    """declare, request invoices, lambda-local twice, dlq show: each prints what the page shows."""
    prefix = f"{unique}-"
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")}
    environment = {
        **kept,
        "PYTHONUNBUFFERED": "1",
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_PREFIX": prefix,
    }
    shown = SESSION.read_text(encoding="utf-8").splitlines()
    transcript: list[str] = []
    for line in shown:
        if not line.startswith("$ "):
            continue
        command = shlex.split(line[2:])
        assert command[:1] == ["python"]
        ran = subprocess.run(
            [sys.executable, *command[1:]],
            cwd=REPOSITORY,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        transcript.append(line)
        transcript.extend(ran.stdout.replace(prefix, "").splitlines())

    assert steady("\n".join(transcript)) == steady("\n".join(shown))


def test_the_function_module_builds_an_sqs_handler() -> None:
    """Importing the function module, as Lambda does, gives an SQS handler on 'invoices'."""
    from examples.lambda_app.function import handler

    assert isinstance(handler, LambdaHandler)
    assert handler.source == "sqs"
    assert handler.app.queue_names == ("invoices",)
