"""Objects that melange 7's documentation imports, kept so that its pages still run.

``melange.examples.shared`` holds the serializer registry of the "Publishing to a topic"
snippet (``from melange.examples.shared import serializer_registry``). Nothing in melange
imports this package; it imports only ``melange.serializers`` (and simple_cqrs, if the
``examples`` extra installed it).
"""
