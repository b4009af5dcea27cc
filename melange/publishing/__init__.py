"""Publishing: sending Python objects to queues and topics.

``core`` plans every publish (serializing, attributes, size checks, tracing) once for both
halves; ``_async/publishers.py`` sends the plans (``AsyncQueuePublisher``,
``AsyncTopicPublisher``, exported by ``melange.aio``) and ``_sync/publishers.py``, generated
from it by ``scripts/unasync.py``, does the same with blocking calls (``QueuePublisher``,
``TopicPublisher``, exported by ``melange``).

May import: ``melange.exceptions``, ``messages``, ``limits``, ``serializers``, ``wire``,
``telemetry`` and the backend protocols. Never ``melange.consuming`` nor ``melange.app``.
"""
