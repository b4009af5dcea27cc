import json
from datetime import datetime

from pydantic import BaseModel, Field

from melange import Consumer, MessageDispatcher, consumer
from melange.backends import InMemoryBackend
from melange.serializers import JsonSerializer, SerializerRegistry


# EventBridge's envelope, as a pydantic model: keys that are not Python names get an alias.
class InstanceState(BaseModel):
    instance_id: str = Field(alias="instance-id")
    state: str


class InstanceStateChange(BaseModel):
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail: InstanceState


class Fleet(Consumer):
    @consumer
    def on_change(self, event: InstanceStateChange) -> None:
        print(f"{event.detail.instance_id} is {event.detail.state} ({event.detail_type})")


backend = InMemoryBackend()
backend.declare_queue("fleet", dead_letter_queue="fleet-dlq")
# What an EventBridge rule whose target is the queue sends: the event, with no attributes.
event = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2026-05-04T18:43:48Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:ec2:eu-west-1:111122223333:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"},
}
backend.send_raw("fleet", json.dumps(event), {})
backend.send_raw("fleet", json.dumps({**event, "detail": {"state": "running"}}), {})

registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
# Attached by hand, without a Subscription: the dispatcher's foreign= says the same.
fleet = MessageDispatcher(registry, backend, consumers=[Fleet()], foreign=InstanceStateChange)
fleet.process_available("fleet")
for dead in backend.receive("fleet-dlq"):
    print(f"fleet-dlq: {dead.attributes['melange_error']}")
