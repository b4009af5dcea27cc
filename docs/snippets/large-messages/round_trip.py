import pinject

from melange import Application, Consumer, QueuePublisher, Subscription, consumer
from melange.payloads.factory import PayloadStores
from melange.settings import load_settings
from melange_bindings import MelangeBindingSpec, new_object_graph


class Reports(Consumer):
    """Reads the 'reports' queue, which no topic feeds."""

    subscription = Subscription("reports")

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    @consumer
    def on_report(self, report: dict[str, str]) -> None:
        self.sizes.append(len(report["rows"]))


class ReportsSpec(pinject.BindingSpec):
    def provide_melange_consumers(self, reports: Reports) -> list[Consumer]:
        return [reports]


settings = load_settings(environ={"MELANGE_LARGE_PAYLOAD_BUCKET": "shop-payloads"})
graph = new_object_graph(
    classes=[Reports], binding_specs=[ReportsSpec()], melange=MelangeBindingSpec(settings=settings)
)
app = graph.provide(Application)
for done in app.declare():
    print(done)

report = {"rows": "x" * 2_000_000}  # about 2 MB of JSON: twice what SQS takes
message_id = graph.provide(QueuePublisher).publish("reports", report)

[queued] = app.backend.peek("reports")  # what SQS would hold: the pointer
print("the queue holds:", queued.body.replace(message_id, "<message id>"))
print(f"with ExtendedPayloadSize={queued.attributes['ExtendedPayloadSize']:,}")
store = graph.provide(PayloadStores).store()
print("objects in the bucket:", len(store.objects()))

# What `python -m melange worker` does for 'reports' (its options: delete_payloads=True).
[queue] = app.topology.queues
app.dispatcher_factory(*queue.consumers, options=queue.options).process_available("reports")
[reports] = queue.consumers
print(f"the handler got {reports.sizes[0]:,} characters of rows")
print("objects in the bucket once acknowledged:", len(store.objects()))
