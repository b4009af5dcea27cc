"""A FastAPI application that publishes events, and an asyncio worker that consumes them.

``POST /orders`` (``app.py``) publishes ``OrderPlaced`` (``events.py``, a pydantic model
sent with ``PydanticSerializer``) to a topic through the graph's ``AsyncTopicPublisher``,
built once in the app's lifespan; ``FulfilmentConsumer`` (``worker.py``), whose handler
is ``async def``, reads it from a queue subscribed to the topic. ``wiring.py`` is the
binding spec and ``graph`` both processes build. Against the emulator of compose.yaml::

    MELANGE_ENV=local python -m melange declare examples.fastapi_app:graph
    MELANGE_ENV=local uvicorn examples.fastapi_app.app:app
    MELANGE_ENV=local python -m melange worker examples.fastapi_app:graph

(see README.md in this folder).
"""

from examples.fastapi_app.wiring import graph

__all__ = ["graph"]
