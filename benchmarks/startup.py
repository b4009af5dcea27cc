"""Startup cost: importing melange, and building the pinject graph up to the first service.

Every sample runs in a fresh interpreter (``sys.executable -c ...``), because a second
import in the same process costs nothing. Each child times itself with
``time.perf_counter`` and prints one JSON line; the parent takes the median of ``--runs``
children (default 15) per measurement:

* ``import melange``: the package alone. The child also imports ``melange.backends`` and
  ``bindings`` and asserts that ``boto3`` is still not in ``sys.modules``, since only the
  SQS backend may load it.
* ``its dependencies alone``: the same non-melange modules (attrs, cattrs, the standard
  library) that ``import melange`` loads, imported in the same order without melange, so
  melange's own share is the difference;
* ``import melange on top of boto3``: ``import boto3`` first, untimed, then ``import
  melange`` timed, as in an SQS worker, where boto3 is loaded anyway; then ``import
  melange.backends.aws`` after it, timed apart;
* ``import melange + bindings``: what an application imports to wire melange, timed
  separately from
* ``graph build`` and ``first provide``: ``bindings.new_object_graph`` with a tiny
  application spec and ``MelangeBindingSpec(environ={})`` (the in-memory backend), then
  the first ``obj_graph.provide(Service)`` of a service taking ``queue_publisher`` and
  ``topic_publisher``.

Each measurement runs twice over:

* ``bytecode cached``: the children compile to a private ``PYTHONPYCACHEPREFIX`` (a
  temporary folder, so nothing is written into the repository) and one untimed warm-up
  child fills it first, as an installed package whose ``.pyc`` files exist starts;
* ``as launched``: the children inherit this process's environment unchanged; with
  ``PYTHONDONTWRITEBYTECODE=1`` and no ``__pycache__`` in the checkout, every child
  compiles melange's sources again.

Once, untimed, a child imports ``melange.backends.aws`` and lists the modules of
``melange.backends.memory`` it loaded: an SQS-only worker should load none.

Budgets: graph build + first provide at most 20 ms; importing melange (without boto3) at
most 100 ms; importing melange on top of boto3 at most 40 ms. It prints a table per mode
and PASS/FAIL per budget (the verdicts of the bytecode-cached table are the ones that count:
that is how a deployed service starts) and exits 0 unless a child breaks, as the other
benchmark scripts do.

Run from the repository root: ``.venv/bin/python benchmarks/startup.py --runs 15``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

REPO_ROOT = Path(__file__).resolve().parent.parent

IMPORT_BUDGET_MS = 100.0
ON_BOTO3_BUDGET_MS = 40.0
GRAPH_BUDGET_MS = 20.0

#: Times ``import melange``, then checks that the in-memory path never loads boto3.
IMPORT_CHILD = """
import sys, time
start = time.perf_counter()
import melange
imported = time.perf_counter()
import melange.backends
import bindings
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("boto3", "botocore"))
assert not loaded, f"importing melange, melange.backends and bindings loaded {loaded}"
import json
print(json.dumps({"import_melange": imported - start}))
"""

#: Times ``import melange`` with boto3 already loaded (untimed), then the AWS backends.
ON_BOTO3_CHILD = """
import sys, time
import boto3
start = time.perf_counter()
import melange
imported = time.perf_counter()
import melange.backends.aws
aws = time.perf_counter()
import json
print(json.dumps({"import_melange_on_boto3": imported - start, "import_aws": aws - imported}))
"""

#: Lists the modules of the in-memory backend that importing the AWS backends loads.
AWS_ONLY_CHILD = """
import sys
import melange.backends.aws
memory = "melange.backends.memory"
loaded = sorted(n for n in sys.modules if n == memory or n.startswith(memory + "."))
import json
print(json.dumps(loaded))
"""

#: Lists, in load order, the modules other than melange's that ``import melange`` loads.
DEPENDENCIES_CHILD = """
import sys
before = set(sys.modules)
import melange
loaded = [n for n in sys.modules if n not in before and n.split(".")[0] != "melange"]
import json
print(json.dumps(loaded))
"""

#: Times importing the given modules, in order: melange's dependencies without melange.
BASELINE_CHILD = """
import sys, time
names = {names!r}
start = time.perf_counter()
for name in names:
    __import__(name)
imported = time.perf_counter()
import json
print(json.dumps({{"import_dependencies": imported - start}}))
"""

#: Times the imports an application needs, then graph build and the first provide.
GRAPH_CHILD = """
import sys, time
start = time.perf_counter()
import pinject
import melange
from bindings import MelangeBindingSpec, new_object_graph
imported = time.perf_counter()

class AppBindingSpec(pinject.BindingSpec):
    def provide_melange_serializer_bindings(self):
        return {}

class Service:
    def __init__(self, queue_publisher, topic_publisher):
        self.queue_publisher = queue_publisher
        self.topic_publisher = topic_publisher

before_graph = time.perf_counter()
graph = new_object_graph(
    binding_specs=[AppBindingSpec()],
    classes=[Service],
    melange=MelangeBindingSpec(environ={}),
)
built = time.perf_counter()
service = graph.provide(Service)
provided = time.perf_counter()
assert type(service.queue_publisher).__name__ == "QueuePublisher"
assert type(service.topic_publisher).__name__ == "TopicPublisher"
assert "boto3" not in sys.modules, "the in-memory graph loaded boto3"
import json
print(json.dumps({
    "import_melange_bindings": imported - start,
    "graph_build": built - before_graph,
    "first_provide": provided - built,
    "graph_build_and_first_provide": provided - before_graph,
}))
"""


@attrs.frozen
class Row:
    """One measurement's samples, in seconds, and its budget in milliseconds (if any)."""

    label: str
    samples: tuple[float, ...]
    budget_ms: float | None = None

    @property
    def median_ms(self) -> float:
        """The median sample, in milliseconds."""
        return statistics.median(self.samples) * 1000

    @property
    def passed(self) -> bool | None:
        """Whether the median is within the budget; ``None`` without a budget."""
        return None if self.budget_ms is None else self.median_ms <= self.budget_ms


def child_env(*, pycache_prefix: str | None) -> dict[str, str]:
    """Return the children's environment: the repository importable, bytecode as chosen."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if pycache_prefix is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache_prefix
    return env


def run_child(code: str, env: Mapping[str, str]) -> Any:
    """Run ``code`` in a fresh interpreter at the repository root; return its JSON line."""
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"child failed with {completed.returncode}:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def collect(code: str, runs: int, env: Mapping[str, str]) -> dict[str, list[float]]:
    """Run ``code`` in ``runs`` fresh interpreters; return each key's samples."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        for key, seconds in run_child(code, env).items():
            samples.setdefault(key, []).append(seconds)
    return samples


def measure(runs: int, env: Mapping[str, str], dependencies: list[str]) -> list[Row]:
    """Sample every child ``runs`` times in ``env`` and return the table's rows."""
    imports = collect(IMPORT_CHILD, runs, env)
    baseline = collect(BASELINE_CHILD.format(names=dependencies), runs, env)
    on_boto3 = collect(ON_BOTO3_CHILD, runs, env)
    graph = collect(GRAPH_CHILD, runs, env)
    return [
        Row(
            "import melange (boto3 not loaded)", tuple(imports["import_melange"]), IMPORT_BUDGET_MS
        ),
        Row("  its dependencies alone", tuple(baseline["import_dependencies"])),
        Row(
            "import melange on top of boto3",
            tuple(on_boto3["import_melange_on_boto3"]),
            ON_BOTO3_BUDGET_MS,
        ),
        Row("  then import melange.backends.aws", tuple(on_boto3["import_aws"])),
        Row("import melange + bindings + pinject", tuple(graph["import_melange_bindings"])),
        Row("  graph build", tuple(graph["graph_build"])),
        Row("  first provide(Service)", tuple(graph["first_provide"])),
        Row(
            "graph build + first provide",
            tuple(graph["graph_build_and_first_provide"]),
            GRAPH_BUDGET_MS,
        ),
    ]


def print_table(title: str, rows: list[Row]) -> None:
    """Print median, min and max per measurement, with its budget, then the verdicts."""
    header = f"{'measurement':<40}{'median ms':>11}{'min ms':>9}{'max ms':>9}{'budget':>10}"
    print(f"\n== {title} ==")
    print(header)
    print("-" * len(header))
    for row in rows:
        budget = "" if row.budget_ms is None else f"<= {row.budget_ms:g} ms"
        print(
            f"{row.label:<40}{row.median_ms:>11.2f}{min(row.samples) * 1000:>9.2f}"
            f"{max(row.samples) * 1000:>9.2f}{budget:>10}"
        )
    for row in rows:
        if row.passed is not None:
            verdict = "PASS" if row.passed else "FAIL"
            print(
                f"{verdict}  {row.label}: median {row.median_ms:.2f} ms (<= {row.budget_ms:g} ms)"
            )


def print_aws_only(loaded: list[str]) -> None:
    """Print whether importing ``melange.backends.aws`` loaded the in-memory backend."""
    found = ", ".join(loaded) or "none"
    print(
        f"\n{'PASS' if not loaded else 'FAIL'}  import melange.backends.aws loads no "
        f"melange.backends.memory module: {found}"
    )


def main() -> int:
    """Parse arguments, measure with cached bytecode and as launched, and print the tables."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per child")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    print(f"{args.runs} fresh interpreters per measurement, median of each ({sys.executable})")
    with tempfile.TemporaryDirectory(prefix="melange-pycache-") as prefix:
        cached_env = child_env(pycache_prefix=prefix)
        dependencies: list[str] = run_child(DEPENDENCIES_CHILD, cached_env)
        for code in (IMPORT_CHILD, ON_BOTO3_CHILD, GRAPH_CHILD):
            run_child(code, cached_env)  # untimed warm-up: writes the bytecode cache
        cached = measure(args.runs, cached_env, dependencies)
        aws_only: list[str] = run_child(AWS_ONLY_CHILD, cached_env)
    print_table("bytecode cached (as a deployed service starts)", cached)
    launched_env = child_env(pycache_prefix=None)
    bytecode = "not written" if "PYTHONDONTWRITEBYTECODE" in os.environ else "written"
    print_table(
        f"as launched (PYTHONDONTWRITEBYTECODE: bytecode {bytecode})",
        measure(args.runs, launched_env, dependencies),
    )
    print_aws_only(aws_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
