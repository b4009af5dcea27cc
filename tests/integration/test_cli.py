"""The ``melange`` command as a newcomer runs it: what it imports, what it warns, its exit codes.

The ``consume`` tests write a small application module into a temporary directory and run
the command there, as the installed console script ``melange`` and as ``python -m
melange``, in a subprocess; they need no broker (the in-memory backend, or an SQS backend
pointed at a port nothing listens on). The ``declare`` and ``worker`` tests run the shop
application (``tests/shop_app.py``) against the moto server, names prefixed per test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from melange.settings import load_settings
from tests.shop_app import INVOICES, OrderService, build_graph
from tests.support.polling import poll_until
from tests.support.servers import MotoServer, free_port

pytestmark = pytest.mark.integration

#: The console script pip installed next to the interpreter running the tests.
CONSOLE_SCRIPT = Path(sys.executable).with_name("melange")

COMMANDS = {
    "console-script": [str(CONSOLE_SCRIPT)],
    "python-m": [sys.executable, "-m", "melange"],
}

#: The application module, written to the working directory as ``shop_worker.py``.
APP_MODULE = textwrap.dedent(
    '''
    """A worker module in the directory the command runs from, as a newcomer writes it."""

    import socket

    from melange import MessageDispatcher
    from melange.backends import InMemoryBackend, LocalSQSBackend
    from melange.backends.prefixed import PrefixedBackend
    from melange.serializers import JsonSerializer, SerializerRegistry
    from melange.settings import load_settings

    NOT_A_FACTORY = 42


    def _registry():
        return SerializerRegistry({"serializers": {"json": JsonSerializer}})


    def in_memory():
        backend = InMemoryBackend()
        backend.declare_queue("jobs")
        return MessageDispatcher(_registry(), backend, wait_time_seconds=1)


    def prefixed_in_memory():
        backend = PrefixedBackend(InMemoryBackend(), "shop-")
        backend.declare_queue("jobs")
        return MessageDispatcher(_registry(), backend, wait_time_seconds=1)


    def broker_down():
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        backend = LocalSQSBackend(host=f"http://127.0.0.1:{port}")
        backend.declare_queue("jobs")
        return MessageDispatcher(_registry(), backend)


    def misconfigured():
        settings = load_settings()
        workers = settings.dispatcher.workers
        return MessageDispatcher(_registry(), InMemoryBackend(), workers=workers)


    def returns_none():
        return None
    '''
)


@pytest.fixture(name="app_directory")
def fixture_app_directory(tmp_path: Path) -> Path:
    """Give a directory holding ``shop_worker.py`` and nothing else importable."""
    (tmp_path / "shop_worker.py").write_text(APP_MODULE, encoding="utf-8")
    return tmp_path


def command_environment(**extra: str) -> dict[str, str]:
    """Return the environment without PYTHONPATH, so only the command can find the app."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment.update(PYTHONUNBUFFERED="1", **extra)
    return environment


def run_melange(
    command: list[str], directory: Path, *args: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``command args`` in ``directory`` to completion and return what it did."""
    return subprocess.run(
        [*command, *args],
        cwd=directory,
        env=command_environment(**extra_env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- the app module is imported from the working directory, whatever the command ----------


def test_the_console_script_is_installed() -> None:
    """The ``melange`` console script sits next to the interpreter, so the tests can run it."""
    assert CONSOLE_SCRIPT.exists(), f"{CONSOLE_SCRIPT} is missing; reinstall the package"


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_both_commands_import_the_app_module_from_the_working_directory(
    command: list[str], app_directory: Path
) -> None:
    """``melange`` and ``python -m melange`` both import a module from the working directory."""
    ran = run_melange(command, app_directory, "consume", "shop_worker:in_memory", "--queue", "nope")

    # The factory was imported and called: the dispatcher ran and found no queue 'nope'.
    assert "cannot import" not in ran.stderr
    assert ran.returncode == 1, ran.stderr
    assert "queue 'nope' does not exist" in ran.stderr


# -- a worker on the in-memory backend says nothing outside can reach it ------------------


@pytest.mark.parametrize("factory", ["in_memory", "prefixed_in_memory"])
def test_a_worker_on_an_in_memory_backend_warns_once_at_start(
    factory: str, app_directory: Path
) -> None:
    """A worker consuming an in-memory backend logs one WARNING saying how to choose another."""
    stderr_path = app_directory / "worker.stderr"
    with stderr_path.open("wb") as stderr:
        worker = subprocess.Popen(
            [*COMMANDS["python-m"], "consume", f"shop_worker:{factory}", "--queue", "jobs"],
            cwd=app_directory,
            env=command_environment(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        poll_until(
            lambda: stderr_path.read_text(encoding="utf-8"),
            lambda text: "consuming 'jobs'" in text,
            timeout=30,
            message="the worker consuming",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)

    warnings = [
        line for line in stderr_path.read_text(encoding="utf-8").splitlines() if "WARNING" in line
    ]
    assert len(warnings) == 1, warnings
    assert "in-memory" in warnings[0]
    assert "nothing outside this process" in warnings[0]
    assert "MELANGE_BACKEND=local" in warnings[0]
    assert "MELANGE_ENV" in warnings[0]


# -- exit codes: 2 means the target cannot be loaded, 1 a melange error while building it --


@pytest.mark.parametrize(
    ("reference", "named"),
    [
        ("nonexistent_module:factory", "nonexistent_module"),
        ("shop_worker:missing", "'missing'"),
        ("shop_worker:NOT_A_FACTORY", "42"),
        ("shop_worker:returns_none", "None"),
        ("shop_worker", "MODULE:FACTORY"),
    ],
    ids=["no-module", "no-attribute", "not-callable", "wrong-type", "malformed"],
)
def test_a_target_that_cannot_be_loaded_exits_2(
    reference: str, named: str, app_directory: Path
) -> None:
    """A reference to nothing that builds a dispatcher exits 2 with one line saying what."""
    ran = run_melange(COMMANDS["python-m"], app_directory, "consume", reference, "--queue", "jobs")

    assert ran.returncode == 2, ran.stderr
    assert named in ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.parametrize(
    ("factory", "environment", "named"),
    [
        ("broker_down", {}, "could not reach the endpoint"),
        ("misconfigured", {"MELANGE_WORKERS": "many"}, "MELANGE_WORKERS='many'"),
    ],
    ids=["broker-down", "bad-configuration"],
)
def test_a_melange_error_while_building_the_app_exits_1_with_its_message(
    factory: str, environment: dict[str, str], named: str, app_directory: Path
) -> None:
    """A MelangeError raised by the factory (broker down, bad settings) exits 1, not 2."""
    ran = run_melange(
        COMMANDS["python-m"],
        app_directory,
        "consume",
        f"shop_worker:{factory}",
        "--queue",
        "jobs",
        **environment,
    )

    assert ran.returncode == 1, ran.stderr
    assert named in ran.stderr
    assert "Traceback" not in ran.stderr


# -- declare and worker: the shop application against moto -------------------------------

#: Where the tests run the commands: the repository root, so ``tests.shop_app`` imports.
REPOSITORY = Path(__file__).resolve().parents[2]
SHOP = "tests.shop_app:graph"


@pytest.fixture(name="shop_environment")
def fixture_shop_environment(
    moto_server: MotoServer, unique: str, tmp_path: Path
) -> dict[str, str]:
    """Give the MELANGE_* variables running the shop on moto under a prefix unique to the test."""
    return {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_PREFIX": f"{unique}-",
        "MELANGE_WAIT_TIME_SECONDS": "1",
        "SHOP_JOURNAL": str(tmp_path / "journal.txt"),
    }


def test_declare_creates_the_shops_topology_and_finds_it_as_is_the_second_time(
    shop_environment: dict[str, str],
) -> None:
    """A first declare prints 'created' for each resource, a second prints 'as is' for each.

    Each is named as the broker knows it: with the test's MELANGE_PREFIX.
    """
    first = run_melange(COMMANDS["python-m"], REPOSITORY, "declare", SHOP, **shop_environment)
    second = run_melange(COMMANDS["python-m"], REPOSITORY, "declare", SHOP, **shop_environment)
    p = shop_environment["MELANGE_PREFIX"]

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    resources = [
        f"topic '{p}order-events'",
        f"queue '{p}shipping-dlq'",
        f"queue '{p}shipping'",
        f"queue '{p}invoices'",
        f"subscription '{p}shipping' to '{p}order-events'",
    ]
    assert first.stdout.splitlines() == [f"created  {r}" for r in resources]
    assert second.stdout.splitlines() == [f"as is    {r}" for r in resources]


def test_the_worker_handles_both_queues_and_stops_on_sigterm(
    shop_environment: dict[str, str], tmp_path: Path
) -> None:
    """The worker gets EU orders through the filtered topic and invoices directly; SIGTERM: 0."""
    declared = run_melange(COMMANDS["python-m"], REPOSITORY, "declare", SHOP, **shop_environment)
    assert declared.returncode == 0, declared.stderr
    graph = build_graph(settings=load_settings(environ=shop_environment))
    service = graph.provide(OrderService)
    service.place("o1", "eu")
    service.place("o2", "us")  # the filter policy keeps it off 'shipping'
    journal = Path(shop_environment["SHOP_JOURNAL"])
    stderr_path = tmp_path / "worker.stderr"

    with stderr_path.open("wb") as stderr:
        worker = subprocess.Popen(
            [*COMMANDS["python-m"], "worker", SHOP],
            cwd=REPOSITORY,
            env=command_environment(**shop_environment),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    expected = {"shipped o1 from shipping", "invoiced o1", "invoiced o2"}
    try:
        poll_until(
            lambda: (
                set(journal.read_text(encoding="utf-8").splitlines()) if journal.exists() else set()
            ),
            lambda lines: lines >= expected,
            timeout=30,
            message="the worker handling both queues",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, stderr_path.read_text(encoding="utf-8")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)

    assert sorted(journal.read_text(encoding="utf-8").splitlines()) == sorted(expected)
    log = stderr_path.read_text(encoding="utf-8")
    assert "consuming 'shipping' with 2 workers" in log
    assert f"consuming {INVOICES!r} with 1 workers" in log


def test_the_worker_before_declare_says_to_run_the_declare_command(
    shop_environment: dict[str, str],
) -> None:
    """A worker whose queues were never declared exits 1 naming `python -m melange declare`."""
    ran = run_melange(COMMANDS["python-m"], REPOSITORY, "worker", SHOP, **shop_environment)

    assert ran.returncode == 1, ran.stderr
    assert f"declare it first with `python -m melange declare {SHOP}`" in ran.stderr
    assert "MELANGE_PREFIX" in ran.stderr
    assert "backend.declare_queue" not in ran.stderr
    assert "in-memory" not in ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.parametrize("command", ["declare", "queues"])
def test_an_unreachable_endpoint_names_melange_endpoint_url_and_the_url(command: str) -> None:
    """With nothing at MELANGE_ENDPOINT_URL, the command names it and the URL, not STS."""
    url = f"http://127.0.0.1:{free_port()}"
    environment = {"MELANGE_BACKEND": "local", "MELANGE_ENDPOINT_URL": url}

    ran = run_melange(COMMANDS["python-m"], REPOSITORY, command, SHOP, **environment)

    assert ran.returncode == 1, ran.stderr
    assert f'"{url}/"' in ran.stderr
    assert "MELANGE_ENDPOINT_URL" in ran.stderr
    assert "STS" not in ran.stderr
    assert "Traceback" not in ran.stderr
