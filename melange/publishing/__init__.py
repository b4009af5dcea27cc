"""Publishing: sending Python objects to queues and topics.

``core`` plans every publish (serializing, attributes, size checks, tracing) once for both
halves; ``publishers`` sends the plans with blocking calls (``QueuePublisher``,
``TopicPublisher``) and ``aio`` awaits them (``AsyncQueuePublisher``, ``AsyncTopicPublisher``).

May import: ``melange.exceptions``, ``messages``, ``limits``, ``serializers``, ``wire``,
``telemetry`` and the backend protocols. Never ``melange.consuming`` nor ``melange.app``.
"""
