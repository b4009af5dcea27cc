"""What importing melange loads: only what the process uses (checked in fresh interpreters)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def loaded_after(statement: str, *modules: str) -> list[str]:
    """Run ``statement`` in a fresh interpreter; return which of ``modules`` it loaded."""
    probe = f"import sys\n{statement}\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.split()


def test_import_melange_loads_neither_side_nor_boto3() -> None:
    """``import melange`` loads no publisher, dispatcher, backend, settings or boto3."""
    assert (
        loaded_after(
            "import melange",
            "boto3",
            "melange.publishing.core",
            "melange.consuming.dispatcher",
            "melange.backends.memory",
            "melange.settings",
        )
        == []
    )


@pytest.mark.parametrize("module", ["melange.backends.aws", "melange.backends.sqs.backend"])
def test_the_sqs_backend_loads_no_in_memory_backend(module: str) -> None:
    """An SQS-only process never loads the in-memory backend nor the consuming side."""
    assert (
        loaded_after(f"import {module}", "melange.backends.memory", "melange.consuming.dispatcher")
        == []
    )


def test_a_publisher_loads_no_consuming_side() -> None:
    """A process that only publishes loads no dispatcher and no in-memory backend."""
    assert (
        loaded_after(
            "from melange import QueuePublisher",
            "melange.consuming.dispatcher",
            "melange.backends.memory",
            "boto3",
        )
        == []
    )


#: What a Lambda function's cold start never needs, and, on SQS, what the backend defers.
NOT_FOR_LAMBDA = ("asyncio", "dotenv", "melange.testing")
NOT_FOR_LAMBDA_ON_SQS = ("boto3", "melange.backends.memory", "melange.backends.prefixed")


@pytest.mark.parametrize(
    ("environ", "unused"),
    [
        ({"MELANGE_BACKEND": "memory"}, NOT_FOR_LAMBDA),
        (
            {
                "MELANGE_BACKEND": "aws",
                "AWS_REGION": "eu-west-1",
                "AWS_LAMBDA_FUNCTION_NAME": "orders",
            },
            NOT_FOR_LAMBDA + NOT_FOR_LAMBDA_ON_SQS,
        ),
    ],
    ids=["memory", "aws"],
)
def test_a_lambda_function_wired_by_the_graph_loads_nothing_it_does_not_use(
    environ: dict[str, str], unused: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync Lambda function building its graph and handler loads none of what it never uses.

    asyncio (only async consumers need it), python-dotenv (only a ``MELANGE_ENV`` file
    does), the test kit, and on SQS boto3 (built at the first request) and the in-memory
    backend cost a cold start tens of milliseconds.
    """
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    function = textwrap.dedent(
        """
        import pinject
        from melange import Consumer, Subscription, consumer
        from melange.aws_lambda import sqs_handler
        from melange_bindings import new_object_graph

        class Orders(Consumer):
            subscription = Subscription("orders")

            @consumer
            def on_order(self, order: dict) -> None: ...

        class Spec(pinject.BindingSpec):
            def provide_melange_consumers(self, orders):
                return [orders]

        handler = sqs_handler(new_object_graph(classes=[Orders], binding_specs=[Spec()]))
        assert handler.app.queue_names == ("orders",)
        """
    )
    assert loaded_after(function, *unused) == []
