"""Unit tests for the pinject bindings on the in-memory backend: wiring, overrides, pitfalls."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs
import pinject
import pytest

from melange import (
    Consumer,
    InMemoryDeduplicationCache,
    NullDeduplicationCache,
    consumer,
    wire,
)
from melange.backends import InMemoryBackend, MessagingBackend
from melange.backends.prefixed import PrefixedBackend
from melange.exceptions import ConfigurationError
from melange.serializers import JsonSerializer, TypedJsonSerializer
from melange.settings import MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph, new_test_graph
from melange_bindings.graph import PROVIDED_NAMES
from tests.support.clock import FakeClock

REPO_ROOT = Path(__file__).resolve().parents[2]


@attrs.frozen
class OrderPlaced:
    order_id: int


class AppBindingSpec(pinject.BindingSpec):
    """The application's spec: its message classes and their serializers."""

    def provide_melange_serializer_bindings(self) -> dict[type, str]:
        """Bind the application's events to typed JSON."""
        return {OrderPlaced: "typed_json"}


class NotAMappingBindingSpec(pinject.BindingSpec):
    """An application spec whose serializer bindings are not a mapping."""

    def provide_melange_serializer_bindings(self) -> int:
        """Return a number where a mapping belongs."""
        return 42


class OrderService:
    """An application service that publishes; pinject injects both publishers by name."""

    def __init__(self, queue_publisher: Any, topic_publisher: Any) -> None:
        self.queue_publisher = queue_publisher
        self.topic_publisher = topic_publisher


class BackendUser:
    """Asks for the messaging backend only."""

    def __init__(self, messaging_backend: Any) -> None:
        self.messaging_backend = messaging_backend


class Wiring:
    """Asks for every name melange provides, to look at what a graph holds."""

    def __init__(
        self,
        melange_settings: Any,
        messaging_backend: Any,
        serializer_registry: Any,
        queue_publisher: Any,
        topic_publisher: Any,
        deduplication_cache: Any,
        payload_stores: Any,
        dispatcher_factory: Any,
        message_dispatcher: Any,
        melange_app: Any,
    ) -> None:
        self.melange_settings = melange_settings
        self.messaging_backend = messaging_backend
        self.serializer_registry = serializer_registry
        self.queue_publisher = queue_publisher
        self.topic_publisher = topic_publisher
        self.deduplication_cache = deduplication_cache
        self.payload_stores = payload_stores
        self.dispatcher_factory = dispatcher_factory
        self.message_dispatcher = message_dispatcher
        self.melange_app = melange_app


class Recorder(Consumer):
    """Remembers every OrderPlaced it handles, in order."""

    def __init__(self) -> None:
        super().__init__(name="recorder")
        self.handled: list[OrderPlaced] = []

    @consumer
    def on_order_placed(self, event: OrderPlaced) -> None:
        """Record the event."""
        self.handled.append(event)


class MakeGraph(Protocol):
    """Builds a graph of the application's spec and melange's, from an environment dict."""

    def __call__(
        self, environ: Mapping[str, str] | None = None, backend: MessagingBackend | None = None
    ) -> ObjectGraph: ...


@pytest.fixture(name="make_graph")
def fixture_make_graph() -> MakeGraph:
    """Give a factory of object graphs: AppBindingSpec plus MelangeBindingSpec(environ=...)."""

    def make(
        environ: Mapping[str, str] | None = None, backend: MessagingBackend | None = None
    ) -> ObjectGraph:
        return new_object_graph(
            binding_specs=[AppBindingSpec()],
            classes=[OrderService, Wiring],
            melange=MelangeBindingSpec(environ=dict(environ or {}), backend=backend),
        )

    return make


@pytest.fixture(name="wiring")
def fixture_wiring(make_graph: MakeGraph) -> Wiring:
    """Give everything a default graph (empty environment: memory backend) provides."""
    return make_graph().provide(Wiring)


def received_objects(wiring: Wiring, queue: str) -> list[Any]:
    """Receive and acknowledge what is on ``queue`` now; return it deserialized."""
    backend = wiring.messaging_backend
    received = backend.receive(queue, max_messages=10)
    backend.acknowledge(queue, [m.receipt_handle for m in received])
    return [wiring.serializer_registry.deserialize_envelope(wire.unwrap(m)) for m in received]


def run_child(code: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter at the repository root; return its JSON output."""
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# -- wiring --------------------------------------------------------------------------------


def test_a_provided_service_publishes_through_the_memory_backend(make_graph: MakeGraph) -> None:
    """The service's queue and topic publishers send to the graph's in-memory backend."""
    graph = make_graph()
    wiring = graph.provide(Wiring)
    assert type(wiring.messaging_backend) is InMemoryBackend
    wiring.messaging_backend.declare_queue("orders", topics=["order-events"])

    service = graph.provide(OrderService)
    service.queue_publisher.publish("orders", OrderPlaced(1))
    service.topic_publisher.publish("order-events", OrderPlaced(2))

    assert sorted(received_objects(wiring, "orders"), key=lambda e: e.order_id) == [
        OrderPlaced(1),
        OrderPlaced(2),
    ]


def test_provided_objects_are_singletons_within_a_graph(make_graph: MakeGraph) -> None:
    """Within one graph every melange name is built once and shared by all who ask."""
    graph = make_graph()
    first, second = graph.provide(Wiring), graph.provide(Wiring)
    service = graph.provide(OrderService)

    for name in vars(first):
        assert getattr(first, name) is getattr(second, name), name
    assert service.queue_publisher is first.queue_publisher
    assert service.topic_publisher is first.topic_publisher
    assert first.queue_publisher.backend is first.messaging_backend
    assert first.topic_publisher.serializer_registry is first.serializer_registry
    assert first.message_dispatcher.backend is first.messaging_backend


def test_provided_objects_are_distinct_across_graphs(make_graph: MakeGraph) -> None:
    """Two graphs share none of melange's objects."""
    one, other = make_graph().provide(Wiring), make_graph().provide(Wiring)

    for name in vars(one):
        assert getattr(one, name) is not getattr(other, name), name


def test_the_backend_parameter_makes_the_graph_use_exactly_that_backend(
    make_graph: MakeGraph,
) -> None:
    """MelangeBindingSpec(backend=b) puts b itself in the graph, whatever the settings say."""
    backend = InMemoryBackend()
    graph = make_graph(
        {"MELANGE_BACKEND": "local", "MELANGE_ENDPOINT_URL": "http://127.0.0.1:9"}, backend
    )

    wiring = graph.provide(Wiring)

    assert wiring.messaging_backend is backend
    assert graph.provide(OrderService).queue_publisher.backend is backend


def test_the_prefix_puts_messages_on_the_prefixed_queue(make_graph: MakeGraph) -> None:
    """With MELANGE_PREFIX, the backend is a PrefixedBackend and the real queue is prefixed."""
    underlying = InMemoryBackend()
    graph = make_graph({"MELANGE_PREFIX": "staging-"}, underlying)
    wiring = graph.provide(Wiring)
    assert isinstance(wiring.messaging_backend, PrefixedBackend)
    assert wiring.messaging_backend.backend is underlying
    wiring.messaging_backend.declare_queue("orders")

    graph.provide(OrderService).queue_publisher.publish("orders", OrderPlaced(7))

    assert underlying.queue_names() == ["staging-orders"]
    raw = underlying.receive("staging-orders", max_messages=10)
    assert [wiring.serializer_registry.deserialize_envelope(wire.unwrap(m)) for m in raw] == [
        OrderPlaced(7)
    ]


def test_the_settings_parameter_replaces_the_environment() -> None:
    """MelangeBindingSpec(settings=...) is used as given, without reading any environment."""
    settings = MelangeSettings(prefix="given-")
    graph = new_object_graph(
        binding_specs=[AppBindingSpec()],
        melange=MelangeBindingSpec(settings=settings, environ={"MELANGE_BACKEND": "sqs"}),
    )

    wiring = graph.provide(Wiring)

    assert wiring.melange_settings is settings
    assert isinstance(wiring.messaging_backend, PrefixedBackend)


# -- pinject's pitfalls --------------------------------------------------------------------


def test_pinjects_default_module_scan_crashes_once_boto3_is_imported() -> None:
    """In a fresh interpreter pinject's default scan works, and raises after `import boto3`."""
    outcome = run_child(
        """
        import json, pinject
        def scan():
            try:
                pinject.new_object_graph()
            except Exception as exc:
                return type(exc).__name__
            return None
        before = scan()
        import boto3
        print(json.dumps({"before": before, "after": scan()}))
        """
    )

    assert outcome["before"] is None
    assert outcome["after"] is not None  # e.g. ModuleNotFoundError from six.moves' lazy modules


def test_bindings_graph_never_scans_so_boto3_does_no_harm() -> None:
    """With boto3 imported and no application spec, new_object_graph provides a class."""
    outcome = run_child(
        """
        import json
        import boto3
        from melange_bindings import new_object_graph

        class Service:
            def __init__(self, queue_publisher, topic_publisher):
                self.queue_publisher = queue_publisher

        service = new_object_graph(classes=[Service]).provide(Service)
        print(json.dumps({"publisher": type(service.queue_publisher).__name__}))
        """
    )

    assert outcome == {"publisher": "QueuePublisher"}


def test_melange_specs_are_equal_exactly_when_their_arguments_are() -> None:
    """MelangeBindingSpec compares and hashes by its arguments, as pinject asks of such specs."""
    backend = InMemoryBackend()

    assert MelangeBindingSpec(environ={"A": "1"}, backend=backend) == MelangeBindingSpec(
        environ={"A": "1"}, backend=backend
    )
    assert hash(MelangeBindingSpec(environ={})) == hash(MelangeBindingSpec(environ={}))
    assert MelangeBindingSpec(environ={"A": "1"}) != MelangeBindingSpec(environ={})
    assert MelangeBindingSpec(environ={}, backend=backend) != MelangeBindingSpec(
        environ={}, backend=InMemoryBackend()
    )


def test_raw_pinject_refuses_two_different_melange_specs_instead_of_dropping_one() -> None:
    """Two MelangeBindingSpecs with different backends conflict in raw pinject: nothing is lost."""
    with pytest.raises(pinject.errors.ConflictingExplicitBindingsError):
        pinject.new_object_graph(
            modules=None,
            binding_specs=[
                MelangeBindingSpec(environ={}, backend=InMemoryBackend()),
                MelangeBindingSpec(environ={}, backend=InMemoryBackend()),
            ],
        )


def test_the_melange_parameter_is_the_supported_override() -> None:
    """new_object_graph(melange=MelangeBindingSpec(backend=b)) replaces the default spec."""
    backend = InMemoryBackend()

    graph = new_object_graph(
        binding_specs=[AppBindingSpec()], melange=MelangeBindingSpec(environ={}, backend=backend)
    )

    assert graph.provide(Wiring).messaging_backend is backend


def test_a_melange_spec_among_binding_specs_replaces_the_default() -> None:
    """A MelangeBindingSpec listed with the application's specs is the graph's melange spec."""
    backend = InMemoryBackend()

    graph = new_object_graph(
        binding_specs=[AppBindingSpec(), MelangeBindingSpec(environ={}, backend=backend)]
    )

    assert graph.provide(Wiring).messaging_backend is backend


def test_equal_melange_specs_given_twice_are_one_spec() -> None:
    """The same MelangeBindingSpec arguments in binding_specs and melange= build one graph."""
    backend = InMemoryBackend()

    graph = new_object_graph(
        binding_specs=[MelangeBindingSpec(environ={"MELANGE_WORKERS": "3"}, backend=backend)],
        melange=MelangeBindingSpec(environ={"MELANGE_WORKERS": "3"}, backend=backend),
    )

    wiring = graph.provide(Wiring)
    assert wiring.messaging_backend is backend
    assert wiring.melange_settings.dispatcher.workers == 3


def test_two_different_melange_specs_are_refused_naming_both() -> None:
    """Different MelangeBindingSpecs, even one among dependencies(), are a ConfigurationError."""
    stray = MelangeBindingSpec(environ={}, backend=InMemoryBackend())

    class AppWithMelange(pinject.BindingSpec):
        def dependencies(self) -> list[pinject.BindingSpec]:
            return [stray]

    with pytest.raises(ConfigurationError, match="2 different MelangeBindingSpecs") as caught:
        new_object_graph(
            binding_specs=[AppWithMelange()], melange=MelangeBindingSpec(environ={"A": "1"})
        )

    assert "MelangeBindingSpec(environ=dict, backend=InMemoryBackend)" in str(caught.value)
    assert "'1'" not in str(caught.value)  # an environment's values are never shown


def test_pinject_hides_a_type_error_raised_inside_a_provider() -> None:
    """Raw pinject reports a provider's TypeError as a misleading arguments error."""

    class Spec(pinject.BindingSpec):
        def provide_thing(self) -> dict[str, int]:
            return dict(42)  # type: ignore[call-overload]

    class NeedsThing:
        def __init__(self, thing: Any) -> None:
            self.thing = thing

    graph = pinject.new_object_graph(modules=None, binding_specs=[Spec()])

    with pytest.raises(pinject.errors.Error, match="needs at least one directly passed arg"):
        graph.provide(NeedsThing)


def test_a_type_error_in_a_melange_provider_names_what_it_was_building() -> None:
    """Bindings that are not a mapping give a ConfigurationError naming serializer_registry."""
    graph = new_object_graph(
        binding_specs=[NotAMappingBindingSpec()], melange=MelangeBindingSpec(environ={})
    )

    with pytest.raises(ConfigurationError) as caught:
        graph.provide(OrderService)

    assert "'serializer_registry'" in str(caught.value)
    assert "TypeError" in str(caught.value)
    assert isinstance(caught.value.__cause__, TypeError)


def test_pinject_has_no_implicit_name_for_acronym_class_names() -> None:
    """No arg name is bound to AWSBackend implicitly, so asking for `aws_backend` fails."""
    from melange.backends import AWSBackend

    class WantsAwsBackend:
        def __init__(self, aws_backend: Any) -> None:
            self.aws_backend = aws_backend

    graph = new_object_graph(
        classes=[AWSBackend, WantsAwsBackend],
        binding_specs=[AppBindingSpec()],
        melange=MelangeBindingSpec(environ={}),
    )

    with pytest.raises(ConfigurationError, match="aws_backend") as caught:
        graph.provide(WantsAwsBackend)

    assert isinstance(caught.value.__cause__, pinject.errors.NothingInjectableForArgError)


@pytest.fixture(name="sqs_backend", params=["AWSBackend", "LocalSQSBackend"])
def fixture_sqs_backend(request: pytest.FixtureRequest) -> Iterator[MessagingBackend]:
    """Give an SQS backend object; constructing one sends no request."""
    from melange.backends import AWSBackend, LocalSQSBackend

    backend: AWSBackend | LocalSQSBackend
    if request.param == "AWSBackend":
        backend = AWSBackend(region_name="us-east-1")
    else:
        backend = LocalSQSBackend(host="127.0.0.1", port=9)
    yield backend
    backend.close()


def test_messaging_backend_is_bound_by_name_whatever_the_backend_class(
    make_graph: MakeGraph, sqs_backend: MessagingBackend
) -> None:
    """A service asking for messaging_backend gets an AWSBackend or LocalSQSBackend instance."""
    graph = make_graph({}, sqs_backend)

    assert graph.provide(BackendUser).messaging_backend is sqs_backend
    assert graph.provide(OrderService).topic_publisher.backend is sqs_backend


# -- configuration errors ------------------------------------------------------------------


def test_a_graph_without_any_application_spec_uses_the_default_serializer() -> None:
    """With no spec binding serializers, a service's publish goes through the default (json)."""
    graph = new_object_graph(classes=[OrderService], melange=MelangeBindingSpec(environ={}))
    wiring = graph.provide(Wiring)
    wiring.messaging_backend.declare_queue("orders")

    graph.provide(OrderService).queue_publisher.publish("orders", {"order": 1})

    assert received_objects(wiring, "orders") == [{"order": 1}]
    assert wiring.serializer_registry.serialize({"order": 1}).serializer_id == (
        JsonSerializer.identifier
    )
    # An application spec's provide_melange_serializer_bindings overrides the empty default.
    bound = new_object_graph(binding_specs=[AppBindingSpec()], melange=MelangeBindingSpec())
    registry = bound.provide(Wiring).serializer_registry
    assert registry.serialize(OrderPlaced(1)).serializer_id == TypedJsonSerializer.identifier


@pytest.mark.parametrize("cls", list(PROVIDED_NAMES), ids=lambda cls: cls.__name__)
def test_provide_gives_the_graphs_own_object_for_each_melange_type(
    make_graph: MakeGraph, cls: type
) -> None:
    """provide(TopicPublisher) and the like give the object the graph injects by that name."""
    graph = make_graph()

    provided = graph.provide(cls)

    assert provided is getattr(graph.provide(Wiring), PROVIDED_NAMES[cls])
    assert provided is graph.provide(cls)


def test_a_provided_dispatcher_factory_consumes_what_a_provided_publisher_sent() -> None:
    """With no application spec, provide() gives a publisher and dispatchers that work together."""
    from melange import QueuePublisher
    from melange_bindings import DispatcherFactory

    graph = new_object_graph(melange=MelangeBindingSpec(environ={}))
    graph.provide(MessagingBackend).declare_queue("orders")
    graph.provide(QueuePublisher).publish("orders", {"order": 2})
    handled: list[Any] = []

    dispatcher = graph.provide(DispatcherFactory)(Consumer(handled.append, name="recorder"))

    assert dispatcher.process_available("orders") == 1
    assert handled == [{"order": 2}]


def test_aws_without_a_region_says_to_set_aws_region(
    make_graph: MakeGraph, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """MELANGE_BACKEND=aws with no region anywhere is a ConfigurationError naming AWS_REGION."""
    # boto3 reads the region from os.environ and the shared config file, not from environ=.
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-such-aws-config"))
    graph = make_graph({"MELANGE_BACKEND": "aws"})

    with pytest.raises(ConfigurationError) as caught:
        graph.provide(OrderService)

    assert "AWS_REGION" in str(caught.value)
    assert type(caught.value) is ConfigurationError
    assert "botocore" not in type(caught.value.__cause__).__module__


#: What a frame of pinject's looks like in a printed traceback.
PINJECT_FRAME = f"{Path(pinject.__file__).parent}"


def printed(error: BaseException) -> str:
    """Return what Python prints for ``error``: its traceback, chained errors and message."""
    return "".join(traceback.format_exception(error))


@pytest.mark.parametrize(
    ("environ", "setting", "named"),
    [
        ({"MELANGE_BACKEND": "rabit"}, "MELANGE_BACKEND", "MELANGE_BACKEND='rabit'"),
        ({"MELANGE_WORKERS": "abc"}, "MELANGE_WORKERS", "MELANGE_WORKERS='abc'"),
    ],
    ids=["backend", "workers"],
)
def test_wrong_settings_fail_when_the_graph_is_built_without_pinjects_frames(
    make_graph: MakeGraph, environ: dict[str, str], setting: str, named: str
) -> None:
    """A wrong MELANGE_* value fails new_object_graph: one ConfigurationError, no pinject frames."""
    with pytest.raises(ConfigurationError) as caught:
        make_graph(environ)

    assert named in str(caught.value)
    assert [problem.setting for problem in caught.value.problems] == [setting]
    assert PINJECT_FRAME not in printed(caught.value)
    assert "During handling" not in printed(caught.value)


def test_wrong_settings_in_the_environment_fail_the_default_spec_at_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a spec of its own, a graph reads os.environ when built: MELANGE_WORKERS=abc fails."""
    monkeypatch.setenv("MELANGE_WORKERS", "abc")

    with pytest.raises(ConfigurationError, match="MELANGE_WORKERS='abc'") as caught:
        new_object_graph(classes=[OrderService])

    assert len(traceback.extract_tb(caught.value.__traceback__)) < 8


class FailsToBuild:
    """An application class whose constructor raises."""

    def __init__(self, queue_publisher: Any) -> None:
        raise ValueError("the application's own mistake")


def test_an_error_raised_while_providing_keeps_the_providers_frames_not_pinjects(
    make_graph: MakeGraph, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A provider's error (aws, no region) shows melange's provider, not pinject's 30 frames."""
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-such-aws-config"))
    graph = make_graph({"MELANGE_BACKEND": "aws"})

    with pytest.raises(ConfigurationError, match="AWS_REGION") as caught:
        graph.provide(OrderService)

    shown = printed(caught.value)
    assert "in provide_messaging_backend" in shown  # the provider that failed
    assert PINJECT_FRAME not in shown
    assert "During handling" not in shown  # pinject's cache misses are not chained in


def test_an_application_constructors_error_propagates_without_pinjects_frames() -> None:
    """A class of the application raising in __init__ gives its own error, its frame shown."""
    graph = new_object_graph(classes=[FailsToBuild], melange=MelangeBindingSpec(environ={}))

    with pytest.raises(ValueError, match="the application's own mistake") as caught:
        graph.provide(FailsToBuild)

    shown = printed(caught.value)
    assert "in __init__" in shown
    assert PINJECT_FRAME not in shown
    assert "During handling" not in shown


# -- deduplication and the dispatcher ------------------------------------------------------


def handle_a_duplicated_message(wiring: Wiring) -> int:
    """Send one message twice with the same melange id; return how often it was handled."""
    backend = wiring.messaging_backend
    backend.declare_queue("orders")
    wiring.queue_publisher.publish("orders", OrderPlaced(1))
    [original] = backend.receive("orders", max_messages=10)
    backend.acknowledge("orders", [original.receipt_handle])
    for _ in range(2):  # a redelivery as SQS's at-least-once delivery can produce
        backend.send_raw("orders", original.body, original.attributes)
    recorder = Recorder()
    wiring.message_dispatcher.attach_consumer(recorder)

    assert wiring.message_dispatcher.process_available("orders") == 2
    return len(recorder.handled)


def test_memory_dedup_gives_the_dispatcher_an_in_memory_cache(make_graph: MakeGraph) -> None:
    """MELANGE_DEDUP=memory provides an InMemoryDeduplicationCache the dispatcher uses."""
    wiring = make_graph({"MELANGE_DEDUP": "memory"}).provide(Wiring)

    assert isinstance(wiring.deduplication_cache, InMemoryDeduplicationCache)
    assert handle_a_duplicated_message(wiring) == 1


def test_by_default_the_deduplication_cache_is_the_null_cache(wiring: Wiring) -> None:
    """Without MELANGE_DEDUP the cache is a NullDeduplicationCache: a duplicate runs twice."""
    assert isinstance(wiring.deduplication_cache, NullDeduplicationCache)
    assert handle_a_duplicated_message(wiring) == 2


def test_dispatcher_options_follow_the_settings(make_graph: MakeGraph) -> None:
    """MELANGE_WORKERS, MELANGE_WAIT_TIME_SECONDS and MELANGE_VISIBILITY_TIMEOUT reach it."""
    dispatcher = (
        make_graph(
            {
                "MELANGE_WORKERS": "6",
                "MELANGE_WAIT_TIME_SECONDS": "3",
                "MELANGE_VISIBILITY_TIMEOUT": "45",
            }
        )
        .provide(Wiring)
        .message_dispatcher
    )

    assert dispatcher.workers == 6
    assert dispatcher.options.wait_time_seconds == 3
    assert dispatcher.options.visibility_timeout == 45


def test_the_dispatcher_factory_makes_a_new_dispatcher_with_the_settings(
    make_graph: MakeGraph,
) -> None:
    """Each call of dispatcher_factory gives a fresh dispatcher with the settings' options."""
    wiring = make_graph({"MELANGE_WORKERS": "4"}).provide(Wiring)

    first, second = wiring.dispatcher_factory(), wiring.dispatcher_factory()

    assert first is not second
    assert first is not wiring.message_dispatcher
    assert first.workers == second.workers == wiring.message_dispatcher.workers == 4
    assert first.backend is second.backend is wiring.messaging_backend


def test_dispatcher_defaults_follow_the_default_settings(wiring: Wiring) -> None:
    """With an empty environment the dispatcher has the settings' defaults."""
    dispatcher = wiring.message_dispatcher

    assert dispatcher.workers == 1
    assert dispatcher.options.wait_time_seconds == 20
    assert dispatcher.options.visibility_timeout == 30


def test_the_dispatcher_retries_after_the_configured_backoff(
    make_graph: MakeGraph, clock: FakeClock
) -> None:
    """With MELANGE_BACKOFF_BASE=7 and no jitter a failed message comes back after 7 s."""
    backend = InMemoryBackend(clock=clock)
    wiring = make_graph(
        {"MELANGE_BACKOFF_BASE": "7", "MELANGE_BACKOFF_JITTER": "0"}, backend
    ).provide(Wiring)
    backend.declare_queue("orders")
    wiring.queue_publisher.publish("orders", OrderPlaced(1))

    def fail(message: object) -> None:
        raise RuntimeError("handler failed")

    wiring.message_dispatcher.attach_consumer(Consumer(fail, name="failing"))

    assert wiring.message_dispatcher.process_available("orders") == 1
    clock.advance(6.5)
    assert wiring.message_dispatcher.process_available("orders") == 0
    clock.advance(1)
    assert backend.receive("orders", max_messages=10)[0].receive_count == 2


# -- test graphs ---------------------------------------------------------------------------


def test_a_test_graph_returns_published_objects_deserialized_in_order() -> None:
    """new_test_graph(...).published(name) gives back what the service sent, in order."""
    graph = new_test_graph(AppBindingSpec(), classes=[OrderService])
    graph.backend.declare_queue("orders")
    graph.backend.declare_topic("order-events")
    service = graph.provide(OrderService)

    for order_id in (3, 1, 2):
        service.queue_publisher.publish("orders", OrderPlaced(order_id))
    service.topic_publisher.publish("order-events", OrderPlaced(9))

    assert graph.published("orders") == [OrderPlaced(3), OrderPlaced(1), OrderPlaced(2)]
    assert graph.published("order-events") == [OrderPlaced(9)]
    assert graph.published("elsewhere") == []


def test_a_test_graph_drains_a_queue_through_real_consumers() -> None:
    """drain(queue, consumer) hands every queued message to the consumer and empties it."""
    graph = new_test_graph(AppBindingSpec(), classes=[OrderService])
    graph.backend.declare_queue("orders")
    service = graph.provide(OrderService)
    for order_id in (1, 2):
        service.queue_publisher.publish("orders", OrderPlaced(order_id))
    recorder = Recorder()

    assert graph.drain("orders", recorder) == 2

    assert recorder.handled == [OrderPlaced(1), OrderPlaced(2)]
    assert graph.backend.message_count("orders") == 0
