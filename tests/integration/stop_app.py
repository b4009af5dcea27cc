"""An application for the stop tests: one queue whose consumer takes half a second a message.

``python -m melange worker tests.integration.stop_app:threaded_graph`` runs it on the
threaded worker, ``...:asyncio_graph`` (an ``async def`` handler) on the asyncio worker;
the settings come from ``MELANGE_*`` variables. Each handler appends the broker's id of
its message to the file ``STOP_APP_JOURNAL`` names when it starts, so that a test knows
which messages were being handled when it sent SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pinject

from melange import Consumer, MessageContext, Subscription, consumer
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph

QUEUE = "slow"
#: How long each handler works.
HANDLER_SECONDS = 0.5


def _journal(context: MessageContext) -> None:
    path = Path(os.environ["STOP_APP_JOURNAL"])
    with path.open("a", encoding="utf-8") as journal:
        journal.write(f"{context.broker_message_id}\n")


class SlowConsumer(Consumer):
    """Records each message it starts, then works for ``HANDLER_SECONDS``."""

    subscription = Subscription(QUEUE)

    @consumer
    def on_message(self, message: dict[str, Any], context: MessageContext) -> None:
        """Record the message, then work."""
        _journal(context)
        time.sleep(HANDLER_SECONDS)


class AsyncSlowConsumer(Consumer):
    """``SlowConsumer`` with an ``async def`` handler, for the asyncio worker."""

    subscription = Subscription(QUEUE)

    @consumer
    async def on_message(self, message: dict[str, Any], context: MessageContext) -> None:
        """Record the message, then work without blocking the loop."""
        _journal(context)
        await asyncio.sleep(HANDLER_SECONDS)


class _Spec(pinject.BindingSpec):
    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer

    def provide_melange_consumers(self) -> Sequence[Consumer]:
        return [self._consumer]


def threaded_graph() -> ObjectGraph:
    """The app with a plain handler: ``python -m melange worker`` runs it on threads."""
    return new_object_graph(binding_specs=[_Spec(SlowConsumer())], melange=MelangeBindingSpec())


def asyncio_graph() -> ObjectGraph:
    """The app with an ``async def`` handler: the worker runs it on asyncio."""
    return new_object_graph(
        binding_specs=[_Spec(AsyncSlowConsumer())], melange=MelangeBindingSpec()
    )
