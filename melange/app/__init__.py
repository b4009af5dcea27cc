"""The application model: an app's consumers, the topology they imply, its commands.

``application`` derives queues, topics and subscriptions from the consumers an app
states (``topology``) and declares them; ``worker``/``aio_worker`` run its queues;
``loading`` finds the object graph a command names; ``cli`` is ``python -m melange``
(``declare``, ``worker``, ``queues``, ``dlq``), with the operations tools in ``ops``.

The top floor of melange: it may import everything below it, and nothing imports it
except ``melange.__init__``'s lazy names and ``melange_bindings``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from melange.app.application import Application, DispatcherFactory

__all__ = ["Application", "DispatcherFactory"]


# Type checkers see the names above and nothing else: a misspelled name is an error
# for them, not an ``Any`` from ``__getattr__``.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name in __all__:
            return getattr(importlib.import_module("melange.app.application"), name)
        raise AttributeError(f"module 'melange.app' has no attribute {name!r}")
