"""Unit tests for ``python -m melange``: parsing, loading the target, declare, worker, exit codes.

The commands run in this process on the shop application (``tests/shop_app.py``) over an
``InMemoryBackend``: the target ``tests.unit.test_cli:current_graph`` returns the graph the
test built, so the test publishes into the backend the worker consumes and stops the
worker through the application, as SIGTERM would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pinject
import pytest

from melange import Consumer
from melange.app.application import Application
from melange.app.cli import main
from melange.app.loading import load_graph
from melange.backends import InMemoryBackend
from melange.consuming.subscription import Subscription
from melange.exceptions import FactoryNotFoundError
from melange.settings import DispatcherSettings, MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph
from tests.shop_app import INVOICES, SHIPPING, OrderService, ShippingConsumer, build_graph
from tests.support.polling import poll_until

TARGET = "tests.unit.test_cli:current_graph"

#: The graph ``current_graph`` returns: set by the ``shop`` fixture for one test.
_CURRENT: list[ObjectGraph] = []

NOT_A_GRAPH = 42


def current_graph() -> ObjectGraph:
    """The command's target in these tests: the graph the running test built."""
    return _CURRENT[-1]


def returns_none() -> None:
    """A callable that returns no graph."""


def needs_settings(settings: MelangeSettings) -> ObjectGraph:
    """A callable the command cannot call: it needs an argument."""
    return build_graph(settings=settings)


class _Conflicting(pinject.BindingSpec):
    def provide_melange_consumers(self) -> list[Consumer]:
        return [
            Consumer(print, name="one", subscription=Subscription("jobs", workers=1)),
            Consumer(print, name="two", subscription=Subscription("jobs", workers=2)),
        ]


def conflicting_graph() -> ObjectGraph:
    """A graph whose two consumers disagree on their shared queue's workers."""
    return new_object_graph(
        binding_specs=[_Conflicting()],
        melange=MelangeBindingSpec(settings=MelangeSettings(), backend=InMemoryBackend()),
    )


@pytest.fixture(name="shop")
def fixture_shop() -> Iterator[ObjectGraph]:
    """Give the shop's graph on a fresh in-memory backend, as the command's target returns it."""
    settings = MelangeSettings(dispatcher=DispatcherSettings(wait_time_seconds=1))
    graph = build_graph(settings=settings, backend=InMemoryBackend())
    _CURRENT.append(graph)
    yield graph
    _CURRENT.clear()
    graph.provide(Application).stop()


class WorkerThread:
    """``main(["worker", ...])`` running in a thread, with its exit code once it returns."""

    def __init__(self, *args: str) -> None:
        self.code: int | None = None
        self._thread = threading.Thread(target=self._main, args=(list(args),), daemon=True)
        self._thread.start()

    def _main(self, argv: list[str]) -> None:
        self.code = main(argv)

    def join(self, timeout: float = 20) -> int | None:
        """Wait for ``main`` to return; return its exit code (``None``: still running)."""
        self._thread.join(timeout)
        return self.code


def handled(graph: ObjectGraph) -> list[str]:
    """Return what the shop's consumers recorded so far (in the journal they share)."""
    shipping = graph.provide(Application).consumers[0]
    assert isinstance(shipping, ShippingConsumer)
    return list(shipping.journal.lines)


# -- declare -----------------------------------------------------------------------------


def test_declare_prints_one_line_per_resource_then_as_is_the_second_time(
    shop: ObjectGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    """Declaring creates the topic, both queues, the DLQ and the subscription; again: as is."""
    assert main(["declare", TARGET]) == 0
    first = capsys.readouterr().out.splitlines()
    assert main(["declare", TARGET]) == 0
    second = capsys.readouterr().out.splitlines()

    resources = [
        "topic 'order-events'",
        "queue 'shipping-dlq'",
        "queue 'shipping'",
        "queue 'invoices'",
        "subscription 'shipping' to 'order-events'",
    ]
    assert first == [f"created  {resource}" for resource in resources]
    assert second == [f"as is    {resource}" for resource in resources]


# -- worker ------------------------------------------------------------------------------


def test_the_worker_runs_every_queue_and_stops_cleanly(shop: ObjectGraph) -> None:
    """One worker handles the filtered topic queue and the direct queue; stop ends it with 0."""
    assert main(["declare", TARGET]) == 0
    service = shop.provide(OrderService)
    service.place("o1", "eu")
    service.place("o2", "us")  # filtered out of 'shipping', invoiced all the same

    running = WorkerThread("worker", TARGET)
    expected = {"shipped o1 from shipping", "invoiced o1", "invoiced o2"}
    poll_until(lambda: set(handled(shop)), lambda lines: lines >= expected, message="handling")
    shop.provide(Application).stop()

    assert running.join() == 0
    assert sorted(handled(shop)) == sorted(expected)


def test_queue_restricts_the_worker_to_the_named_queues(shop: ObjectGraph) -> None:
    """With --queue invoices, only invoices are handled; the shipping queue is left alone."""
    assert main(["declare", TARGET]) == 0
    shop.provide(OrderService).place("o1", "eu")

    running = WorkerThread("worker", TARGET, "--queue", INVOICES)
    poll_until(lambda: handled(shop), message="the invoice")
    shop.provide(Application).stop()

    assert running.join() == 0
    assert handled(shop) == ["invoiced o1"]
    backend = shop.provide(Application).backend
    assert isinstance(backend, InMemoryBackend)
    assert backend.message_count(SHIPPING) == 1


def test_an_unknown_queue_is_refused_with_the_apps_queues(
    shop: ObjectGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    """--queue naming no queue of the app exits 1, listing the queues it has."""
    assert main(["worker", TARGET, "--queue", "nope"]) == 1

    error = capsys.readouterr().err
    assert "'nope'" in error
    assert "'shipping', 'invoices'" in error


def test_a_worker_whose_queue_does_not_exist_stops_every_queue_and_exits_1(
    shop: ObjectGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without declare, the missing queues end the worker with exit 1 and the hint to declare."""
    assert WorkerThread("worker", TARGET).join() == 1
    assert "does not exist" in capsys.readouterr().err


def test_a_missing_queue_under_the_worker_says_to_run_the_declare_command_once(
    shop: ObjectGraph, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's error names `python -m melange declare TARGET`; no log line hints otherwise."""
    assert WorkerThread("worker", TARGET).join() == 1

    error = capsys.readouterr().err
    assert f"declare the queue there with `python -m melange declare {TARGET}`" in error
    assert "in-memory backend" in error and "MELANGE_ENV=<name>" in error  # the shop's backend
    assert "backend.declare_queue" not in error
    logged = [record.getMessage() for record in caplog.records]
    assert not [line for line in logged if "backend.declare_queue" in line], logged


def test_a_missing_queue_under_the_queues_command_says_to_run_the_declare_command(
    shop: ObjectGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    """`queues TARGET` before declaring exits 1 naming the declare command with that target."""
    assert main(["queues", TARGET]) == 1

    error = capsys.readouterr().err
    assert f"`python -m melange declare {TARGET}`" in error
    assert "backend.declare_queue" not in error


def test_one_missing_queue_stops_the_queues_that_were_running(
    shop: ObjectGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker that lost one queue does not go on with the others: it stops them, exit 1."""
    shop.provide(Application).backend.declare_queue(INVOICES)  # 'shipping' is missing

    assert WorkerThread("worker", TARGET).join() == 1
    assert "queue 'shipping' does not exist" in capsys.readouterr().err


# -- loading the target and exit codes ---------------------------------------------------


@pytest.mark.parametrize("command", ["declare", "worker"])
@pytest.mark.parametrize(
    ("reference", "named"),
    [
        ("no_such_module_here:graph", "no_such_module_here"),
        ("tests.unit.test_cli:missing", "'missing'"),
        ("tests.unit.test_cli:NOT_A_GRAPH", "42"),
        ("tests.unit.test_cli:returns_none", "returned None"),
        ("tests.unit.test_cli", "MODULE:GRAPH"),
        ("tests.unit.test_cli:ObjectGraph", "is the class ObjectGraph; expected an object graph"),
        ("tests.unit.test_cli:needs_settings", "needs arguments (settings)"),
    ],
    ids=["no-module", "no-attribute", "not-callable", "wrong-type", "malformed", "class", "args"],
)
def test_a_target_that_is_no_graph_exits_2(
    command: str, reference: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reference naming nothing that gives an object graph exits 2 with one line saying what."""
    assert main([command, reference]) == 2

    error = capsys.readouterr().err
    assert named in error
    assert "Traceback" not in error


#: Application modules the tests below import, each failing in its own way.
FAILING_MODULES = {
    "hints_imports_missing": "import melange_no_such_package_here\n\ngraph = None\n",
    "hints_raises": "graph = None\nraise RuntimeError('the module has a bug of its own')\n",
    "hints_wrong_settings": (
        "from melange_bindings import new_object_graph\n\ngraph = new_object_graph()\n"
    ),
}


@pytest.fixture(name="failing_modules")
def fixture_failing_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give a directory on sys.path holding the failing modules."""
    for name, source in FAILING_MODULES.items():
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "raised"),
    [
        (
            "hints_imports_missing",
            "import melange_no_such_package_here",
            "ModuleNotFoundError: No module named 'melange_no_such_package_here'",
        ),
        (
            "hints_raises",
            "raise RuntimeError('the module has a bug of its own')",
            "RuntimeError: the module has a bug of its own",
        ),
    ],
    ids=["its-import-fails", "it-raises"],
)
def test_a_module_failing_its_own_import_shows_what_it_raised_and_where(
    failing_modules: Path,
    module: str,
    line: str,
    raised: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exit 2 with the module's own traceback (no importlib frames), not 'check the name'."""
    assert main(["worker", f"{module}:graph"]) == 2

    error = capsys.readouterr().err
    assert "Traceback (most recent call last)" in error
    assert f'File "{failing_modules / module}.py", line' in error
    assert line in error
    assert raised in error
    assert f"melange: module {module!r} of '{module}:graph' was found but failed" in error
    assert "check the name" not in error
    assert "importlib" not in error and "melange/app" not in error


def test_a_melange_error_raised_while_the_module_imports_is_its_message_alone(
    failing_modules: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A graph built at import with MELANGE_BACKEND=rabit: exit 1, the settings' message only."""
    monkeypatch.setenv("MELANGE_BACKEND", "rabit")

    assert main(["worker", "hints_wrong_settings:graph"]) == 1

    error = capsys.readouterr().err
    assert "melange: melange settings are wrong:\n  MELANGE_BACKEND='rabit' is not one of" in error
    assert "Traceback" not in error


def test_a_module_that_fails_its_own_import_keeps_what_it_raised(failing_modules: Path) -> None:
    """load_graph's error carries the module's exception, as import_error and as the cause."""
    with pytest.raises(FactoryNotFoundError) as caught:
        load_graph("hints_imports_missing:graph")

    raised = caught.value.import_error
    assert isinstance(raised, ModuleNotFoundError)
    assert raised.name == "melange_no_such_package_here"
    assert caught.value.__cause__ is raised
    (problem,) = caught.value.problems
    assert (problem.setting, problem.value) == ("MODULE:GRAPH", "hints_imports_missing:graph")
    with pytest.raises(FactoryNotFoundError) as not_found:
        load_graph("tests.unit.no_such_module_here:graph")
    assert not_found.value.import_error is None  # not found: nothing ran to raise


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("no_such_module_here:graph", "a module importable"),
        ("tests.unit.test_cli:missing", "an attribute of module 'tests.unit.test_cli'"),
        ("tests.unit.test_cli:NOT_A_GRAPH", "an object graph"),
        ("tests.unit.test_cli:returns_none", "a callable returning an object graph"),
        ("tests.unit.test_cli", "MODULE:GRAPH, e.g. myapp.wiring:graph"),
        ("tests.unit.test_cli:ObjectGraph", "an object graph"),
        ("tests.unit.test_cli:needs_settings", "a callable taking no arguments"),
    ],
    ids=["no-module", "no-attribute", "not-callable", "wrong-type", "malformed", "class", "args"],
)
def test_a_target_that_is_no_graph_is_a_problem_of_the_reference(
    reference: str, expected: str
) -> None:
    """The error's problem is the MODULE:GRAPH argument, the reference given and what it needs."""
    with pytest.raises(FactoryNotFoundError) as caught:
        load_graph(reference)

    (problem,) = caught.value.problems
    assert (problem.setting, problem.value) == ("MODULE:GRAPH", reference)
    assert expected in problem.expected


def test_a_graph_given_to_consume_exits_2(
    shop: ObjectGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    """The consume command still wants a dispatcher factory: a graph is refused as not one."""
    assert main(["consume", TARGET, "--queue", SHIPPING]) == 2
    assert "expected a MessageDispatcher" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["declare", "worker"])
def test_consumers_that_disagree_exit_1_naming_both(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An app whose consumers conflict on a shared queue is a melange error: exit 1."""
    assert main([command, "tests.unit.test_cli:conflicting_graph"]) == 1

    error = capsys.readouterr().err
    assert "'one'" in error and "'two'" in error and "workers" in error


@pytest.mark.parametrize("command", ["declare", "worker"])
def test_a_command_without_its_target_is_a_usage_error(command: str) -> None:
    """The declare and worker commands need TARGET: without it argparse exits 2 with the usage."""
    with pytest.raises(SystemExit) as usage:
        main([command])

    assert usage.value.code == 2
