"""The composition root of the FastAPI example: its binding spec and object graph.

Both processes build the same graph: the API (``app.py``, once, in its lifespan) takes the
``AsyncTopicPublisher`` from it; ``python -m melange worker`` runs its consumers.
"""

from collections.abc import Mapping, Sequence

import pinject

from examples.fastapi_app.events import ORDER_EVENTS, OrderPlaced
from examples.fastapi_app.worker import Fulfilment, FulfilmentConsumer
from melange import Consumer
from melange.serializers import PydanticSerializer
from melange.settings import MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph


class FastApiBindingSpec(pinject.BindingSpec):
    def provide_melange_consumers(
        self, fulfilment_consumer: FulfilmentConsumer
    ) -> Sequence[Consumer]:
        return [fulfilment_consumer]  # what `worker` runs

    def provide_melange_topics(self) -> Sequence[str]:
        return [ORDER_EVENTS]

    def provide_melange_serializer_bindings(self) -> Mapping[type, str]:
        return {OrderPlaced: "pydantic"}


CLASSES = [Fulfilment, FulfilmentConsumer]


def graph(settings: MelangeSettings | None = None) -> ObjectGraph:
    """The app's graph: settings from MELANGE_* (and config/$MELANGE_ENV.env) unless given."""
    return new_object_graph(
        classes=CLASSES,
        binding_specs=[FastApiBindingSpec()],
        melange=MelangeBindingSpec(
            settings=settings,
            serializers={"pydantic": PydanticSerializer(types=[OrderPlaced])},
        ),
    )
