"""An application type-checks against the installed wheel as its docs write it, Any-free.

mypy runs as an application's checker would: in a virtual environment that holds melange's
wheel and its dependencies but not this checkout, from a directory without the repository's
mypy configuration. What it needs of melange is what the wheel ships: ``py.typed`` in
``melange`` and ``melange_bindings`` and the stub-only package ``pinject-stubs``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

#: ``--strict`` (``--warn-return-any``, ``--disallow-subclassing-any``, ...) and, so that a
#: missing stub cannot hide behind ``Any``, ``--disallow-any-unimported``. Not
#: ``--disallow-any-expr``: attrs' own decorators would fail it in any application.
MYPY_FLAGS = ["--strict", "--disallow-any-unimported", "--warn-unreachable"]

#: melange's runtime dependencies, whose site-packages the environment borrows.
DEPENDENCIES = ["attrs", "boto3", "cattrs", "pinject", "python-dotenv"]

#: A small application as the docs write it: a service given a publisher, a consumer with
#: a handler and a subscription, the application's binding spec and its graph.
APP = '''
    """A small application on melange."""

    from collections.abc import Mapping, Sequence
    from decimal import Decimal
    from typing import assert_type

    import attrs
    import pinject

    from melange import Consumer, MessageContext, Subscription, TopicPublisher, consumer
    from melange.backends import MessagingBackend
    from melange_bindings import ObjectGraph, new_object_graph


    @attrs.frozen
    class OrderPlaced:
        order_id: int
        total: Decimal


    class OrderService:
        def __init__(self, topic_publisher: TopicPublisher) -> None:
            self.topic_publisher = topic_publisher

        def place(self, order_id: int, total: Decimal) -> OrderPlaced:
            order = OrderPlaced(order_id, total)
            self.topic_publisher.publish("order-events", order)
            return order


    class Billing(Consumer):
        subscription = Subscription("billing", topics=["order-events"], dead_letter_queue="dlq")

        def __init__(self) -> None:
            super().__init__()
            self.billed: list[int] = []

        @consumer
        def on_order_placed(self, order: OrderPlaced, context: MessageContext) -> None:
            self.billed.append(order.order_id)


    class AppBindingSpec(pinject.BindingSpec):
        def provide_melange_consumers(self, billing: Billing) -> Sequence[Consumer]:
            return [billing]

        def provide_melange_topics(self) -> Sequence[str]:
            return ["order-events"]

        def provide_melange_serializer_bindings(self) -> Mapping[type, str]:
            return {OrderPlaced: "typed_json"}


    CLASSES = [OrderService, Billing]


    def graph() -> ObjectGraph:
        return new_object_graph(classes=CLASSES, binding_specs=[AppBindingSpec()])


    def place_one() -> OrderPlaced:
        objects = graph()
        assert_type(objects.provide(OrderService), OrderService)
        assert_type(objects.provide(MessagingBackend), MessagingBackend)
        objects.provide(MessagingBackend).declare_queue("billing", topics=["order-events"])
        return objects.provide(OrderService).place(1, Decimal("9.90"))
'''

#: The application's test, as the Testing page writes one.
APP_TEST = """
    from decimal import Decimal
    from typing import assert_type

    from app import CLASSES, AppBindingSpec, Billing, OrderService
    from melange import Application
    from melange.backends import MessagingBackend
    from melange_bindings import new_test_graph


    def test_an_order_is_billed() -> None:
        graph = new_test_graph(AppBindingSpec(), classes=CLASSES)
        graph.provide(Application).declare()
        assert_type(graph.provide(OrderService), OrderService)
        assert_type(graph.provide(MessagingBackend), MessagingBackend)
        order = graph.provide(OrderService).place(1, Decimal("9.90"))
        billing = graph.provide(Billing)

        assert graph.published("order-events") == [order]
        assert graph.drain("billing", billing) == 1
        assert billing.billed == [order.order_id]
"""


@pytest.fixture(name="installed_python", scope="module")
def fixture_installed_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Give the Python of a virtual environment with the wheel installed, not this checkout.

    The dependencies come from this environment's site-packages, named in a ``.pth`` file:
    ``.pth`` files inside those directories (this checkout's editable install) are not read.
    """
    home = tmp_path_factory.mktemp("installed") / "venv"
    venv.create(home, with_pip=False)
    python = home / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    subprocess.run([*install, purelib, wheel], check=True, timeout=300)
    borrowed = {str(metadata.distribution(name).locate_file("")) for name in DEPENDENCIES}
    Path(purelib, "melange-dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    return python


@pytest.fixture(name="mypy_cache", scope="module")
def fixture_mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Give a mypy cache the module's runs share: melange's modules are analysed once."""
    return tmp_path_factory.mktemp("mypy_cache")


def mypy(python: Path, cache: Path, app_dir: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """Run mypy with ``MYPY_FLAGS`` on ``files`` in ``app_dir``, for the packages of ``python``."""
    (app_dir / "mypy.ini").write_text("[mypy]\n")  # not the repository's configuration
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYPY", "PYTHON"))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            *MYPY_FLAGS,
            "--config-file",
            "mypy.ini",
            "--python-executable",
            str(python),
            "--cache-dir",
            str(cache),
            *files,
        ],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_wheel_ships_type_information_for_both_packages_and_pinject(wheel: Path) -> None:
    """py.typed marks melange and melange_bindings; pinject's stubs install as pinject-stubs."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        stub = archive.read("pinject-stubs/__init__.pyi").decode()

    assert {"melange/py.typed", "melange_bindings/py.typed"} <= names
    assert {"pinject-stubs/__init__.pyi", "pinject-stubs/errors.pyi"} <= names
    assert "class BindingSpec" in stub
    assert stub == (REPO_ROOT / "stubs" / "pinject" / "__init__.pyi").read_text()


def test_an_application_type_checks_against_the_installed_wheel(
    installed_python: Path, mypy_cache: Path, tmp_path: Path
) -> None:
    """The docs' way of writing an app, its test and the README's example pass mypy --strict."""
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    (tmp_path / "test_app.py").write_text(textwrap.dedent(APP_TEST))
    (tmp_path / "hello.py").write_text((REPO_ROOT / "examples" / "hello.py").read_text())

    checked = mypy(installed_python, mypy_cache, tmp_path, "app.py", "test_app.py", "hello.py")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Success: no issues found in 3 source files" in checked.stdout


def test_a_misspelled_name_is_a_type_error_not_any(
    installed_python: Path, mypy_cache: Path, tmp_path: Path
) -> None:
    """Lazily loaded modules do not turn an unknown name into Any for the type checker."""
    (tmp_path / "typo.py").write_text(
        "from melange import Cosumer\n"
        "from melange.aio import AsyncTopicPublisher, AsyncTopicPublsher\n"
        "from melange.backends import InMemoryBackend, InMemoryBakend\n"
        "from melange.serializers import JsonSerializer, JsonSerialiser\n"
    )

    checked = mypy(installed_python, mypy_cache, tmp_path, "typo.py")

    for name in ("Cosumer", "AsyncTopicPublsher", "InMemoryBakend", "JsonSerialiser"):
        assert f'has no attribute "{name}"' in checked.stdout, checked.stdout
    assert "Found 4 errors in 1 file" in checked.stdout, checked.stdout
