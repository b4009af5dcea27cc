"""melange's bindings install as ``melange_bindings``, which an app's ``bindings`` never shadows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

#: An application's own ``bindings`` module, as many applications have one.
APP_BINDINGS = 'WHOSE = "the application\'s"\n'

#: What the application runs: its own ``bindings`` and melange's, side by side.
APP_MAIN = """
    import json
    import bindings
    import melange_bindings
    from melange_bindings import new_object_graph
    import melange_bindings.pytest_plugin

    class Service:
        def __init__(self, topic_publisher):
            self.topic_publisher = topic_publisher

    service = new_object_graph(classes=[Service]).provide(Service)
    print(json.dumps({
        "bindings": bindings.WHOSE,
        "melange_bindings": melange_bindings.__file__,
        "publisher": type(service.topic_publisher).__name__,
    }))
"""


def run_app(app_dir: Path, *, pythonpath: Path | None = None) -> dict[str, Any]:
    """Run ``APP_MAIN`` with ``app_dir`` (holding the app's bindings.py) as working directory."""
    (app_dir / "bindings.py").write_text(APP_BINDINGS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELANGE_", "PYTHON"))}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(APP_MAIN)],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_an_app_with_its_own_bindings_module_uses_melange_bindings(tmp_path: Path) -> None:
    """With the app's bindings.py first on sys.path, melange_bindings still wires a service."""
    outcome = run_app(tmp_path)

    assert outcome["bindings"] == "the application's"
    assert outcome["publisher"] == "TopicPublisher"
    assert Path(outcome["melange_bindings"]).is_relative_to(REPO_ROOT / "melange_bindings")


def test_the_checkout_name_bindings_is_the_same_modules() -> None:
    """In a checkout, bindings and bindings.<module> are melange_bindings' very modules."""
    import bindings
    import bindings.pytest_plugin
    import bindings.spec
    import bindings.testing
    import melange_bindings
    import melange_bindings.pytest_plugin
    import melange_bindings.spec
    import melange_bindings.testing

    assert bindings.spec is melange_bindings.spec
    assert bindings.testing is melange_bindings.testing
    assert bindings.pytest_plugin is melange_bindings.pytest_plugin
    assert bindings.MelangeBindingSpec is melange_bindings.MelangeBindingSpec
    assert bindings.__all__ == melange_bindings.__all__


def test_the_wheel_ships_the_bindings_as_melange_bindings_only(wheel: Path) -> None:
    """The wheel holds melange_bindings (the code itself) and no top-level bindings package."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        spec = archive.read("melange_bindings/spec.py").decode()

    top_level = {name.split("/")[0] for name in names if not name.endswith(".dist-info")}
    assert "bindings" not in top_level
    assert {"melange", "melange_bindings"} <= top_level
    assert {f"melange_bindings/{m}.py" for m in ("graph", "spec", "testing")} <= set(names)
    assert "class MelangeBindingSpec" in spec


def test_the_installed_wheel_works_beside_an_app_bindings_module(
    wheel: Path, tmp_path: Path
) -> None:
    """Installed from the wheel, melange_bindings wires a service in an app with bindings.py."""
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, wheel],
        check=True,
        timeout=300,
    )
    app = tmp_path / "app"
    app.mkdir()

    outcome = run_app(app, pythonpath=site)

    assert outcome["bindings"] == "the application's"
    assert outcome["publisher"] == "TopicPublisher"
    assert Path(outcome["melange_bindings"]).is_relative_to(site / "melange_bindings")
