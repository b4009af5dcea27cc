import pinject

from melange import Application, Consumer, Subscription, TopicPublisher, consumer
from melange.payloads.factory import PayloadStores
from melange.settings import load_settings
from melange_bindings import MelangeBindingSpec, new_object_graph


class Billing(Consumer):
    subscription = Subscription("billing", topics=["report-events"], raw_message_delivery=True)

    @consumer
    def on_report(self, report: dict[str, str]) -> None:
        print(f"billing read {len(report['rows']):,} characters (raw delivery)")


class Audit(Consumer):
    subscription = Subscription("audit", topics=["report-events"])

    @consumer
    def on_report(self, report: dict[str, str]) -> None:
        print(f"audit read {len(report['rows']):,} characters (SNS notification)")


class ReportsSpec(pinject.BindingSpec):
    def provide_melange_consumers(self, billing: Billing, audit: Audit) -> list[Consumer]:
        return [billing, audit]


settings = load_settings(environ={"MELANGE_LARGE_PAYLOAD_BUCKET": "shop-payloads"})
graph = new_object_graph(
    classes=[Billing, Audit],
    binding_specs=[ReportsSpec()],
    melange=MelangeBindingSpec(settings=settings),
)
app = graph.provide(Application)
app.declare()

# 300 KB: over SNS's default 256 KiB, so it goes through S3 once, for every subscriber.
graph.provide(TopicPublisher).publish("report-events", {"rows": "x" * 300_000})

for queue in app.topology.queues:
    print(f"{queue.name}: delete_payloads={queue.options.delete_payloads}")
    app.dispatcher_factory(*queue.consumers, options=queue.options).process_available(queue.name)
store = graph.provide(PayloadStores).store()
print("objects in the bucket:", len(store.objects()), "(left to the lifecycle rule)")
