"""AWS Lambda: a melange function's cold start and warm invocations against Powertools'.

Two function modules in ``benchmarks/apps/`` handle the same SQS batches:

* ``lambda_function``: melange, as an application writes it: one consumer class with a
  ``Subscription`` and a typed ``@consumer`` handler (an attrs class, typed JSON), a
  pinject binding spec, the object graph built from the ``MELANGE_*`` settings and
  ``handler = sqs_handler(graph)``, all at import;
* ``powertools_function``: AWS Lambda Powertools' ``BatchProcessor`` with
  ``process_partial_response`` and a record handler doing the same JSON routing by hand:
  the body read as melange's reader reads a queue message (``json.loads`` twice), the type
  from the ``manifest`` message attribute, a table from it to the message class (a
  dataclass, built from the fields) and the function.

Both handlers only count the messages they are given; the counts are checked.

The event is built once, in a child on the in-memory backend, from ten messages
published with the application's ``QueuePublisher`` and received from its queue
(``tests/support/lambda_events.py`` turns them into the records an event source
mapping sends), so both functions parse the same bodies and attributes.

Parts (``--only``, several allowed):

* ``cold``: fresh interpreters, ``--runs`` of each, taking turns (bytecode cached in a
  private ``PYTHONPYCACHEPREFIX`` filled by one untimed run of each, as a deployed
  function starts). Each child times, with ``time.perf_counter``, the import of the
  function module (imports, graph and handler: Lambda's init phase), then its first
  invocation with the 10-record event; the ``import boto3`` child times that import
  alone. melange runs twice: on the in-memory backend (``MELANGE_BACKEND=memory``) and
  as deployed (``MELANGE_BACKEND=aws``, with the variables Lambda sets: the function's
  name, ``AWS_REGION`` and the role's credentials, fake here; no AWS config files). The
  parent also times each child from start to exit (interpreter start-up included) and
  prints it beside.
  Before timing, one child per function records every socket an audit hook sees opened
  or resolved while it imports and invokes: none is allowed (a succeeded record is left
  to the mapping to delete, so it needs no request). Targets on the medians of the
  import: melange at most 1.15x Powertools' and no more than 60 ms above ``import
  boto3`` (judged on ``MELANGE_BACKEND=aws``, as a function runs, and printed for both).
* ``warm``: one child imports both modules (in-memory backend) and calls each
  handler with the event ``--iterations`` times per block, blocks taking turns for
  ``--rounds`` rounds after a warm-up; the figure is the time per invocation, median of
  the blocks, and the ratio the median of the rounds' ratios. Target: melange at most
  1.0x Powertools' time.

It prints PASS/FAIL lines and exits 0 unless something breaks (a child that fails, a
handler that reports a failure or misses a record, a socket opened).
Run from the repository root: ``.venv/bin/python benchmarks/lambda.py``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.publish import machine_header, verdict  # noqa: E402  # after the path

PARTS = ("cold", "warm")
MELANGE = "benchmarks.apps.lambda_function"
POWERTOOLS = "benchmarks.apps.powertools_function"
#: The queue's ARN in the event; its name is the application's queue.
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:bench-lambda"
RECORDS = 10
RATIO_TARGET = 1.15  # melange's cold start against Powertools'
ABOVE_BOTO3_MS = 60.0  # melange's cold start against import boto3
WARM_TARGET = 1.0  # melange's warm invocation against Powertools'

#: The Lambda context both handlers are given (Powertools may pass it on; melange ignores it).
CONTEXT = """
import types
context = types.SimpleNamespace(
    function_name="bench", memory_limit_in_mb=128, aws_request_id="bench-request",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:bench",
    get_remaining_time_in_millis=lambda: 30_000,
)
"""

#: Publishes ten messages through the application and prints the event they make.
EVENT_CHILD = f"""
import json
from benchmarks.apps import lambda_function as app
from melange import Application, QueuePublisher
from tests.support.lambda_events import sqs_event
app.graph.provide(Application).declare()
publisher = app.graph.provide(QueuePublisher)
for n in range({RECORDS}):
    publisher.publish(app.QUEUE, app.OrderPlaced(order_id=f"order-{{n}}", sku="tea", quantity=n))
received = app.handler.app.backend.receive(app.QUEUE, max_messages={RECORDS})
assert len(received) == {RECORDS}, received
print(json.dumps(sqs_event(received, arn={QUEUE_ARN!r})))
"""

#: Times importing a function module (Lambda's init), then its first invocation.
COLD_CHILD = (
    """
import sys, time
start = time.perf_counter()
import {module} as function
initialized = time.perf_counter()
import json
"""
    + CONTEXT
    + """
with open({event!r}) as file:
    event = json.load(file)
before = time.perf_counter()
answer = function.handler(event, context)
invoked = time.perf_counter()
assert answer == {{"batchItemFailures": []}}, answer
print(json.dumps({{
    "init": initialized - start,
    "first": invoked - before,
    "boto3": "boto3" in sys.modules,
}}))
"""
)

#: Times ``import boto3`` alone.
BOTO3_CHILD = """
import sys, time
start = time.perf_counter()
import boto3
initialized = time.perf_counter()
import json
print(json.dumps({"init": initialized - start, "boto3": True}))
"""

#: Imports and invokes a function module with an audit hook noting sockets; prints them.
NETWORK_CHILD = (
    """
import sys
network = []
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        network.append(f"{{event}} {{args[1:] if event == 'socket.connect' else args}}")
sys.addaudithook(hook)
import {module} as function
import json
"""
    + CONTEXT
    + """
with open({event!r}) as file:
    event = json.load(file)
function.handler(event, context)
print(json.dumps({{"network": network, "boto3": "boto3" in sys.modules}}))
"""
)


@attrs.frozen
class Way:
    """One cold-start child: the function module it imports (or boto3), in an environment."""

    label: str
    module: str | None
    env: dict[str, str]

    def code(self, event: Path) -> str:
        """Return the timed child's code."""
        if self.module is None:
            return BOTO3_CHILD
        return COLD_CHILD.format(module=self.module, event=str(event))


# -- children ------------------------------------------------------------------------------


def base_env(pycache: str) -> dict[str, str]:
    """Return the children's environment: no MELANGE_* or AWS_* settings of this shell's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MELANGE_", "AWS_", "PYTHONDONTWRITEBYTECODE"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def memory_env(base: dict[str, str]) -> dict[str, str]:
    """Return the environment of the function on the in-memory backend."""
    return {**base, "MELANGE_BACKEND": "memory"}


def aws_env(base: dict[str, str], tmp: Path) -> dict[str, str]:
    """Return the environment of the function as deployed: Lambda's variables, the role's keys.

    Lambda sets ``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_EXECUTION_ENV``, ``AWS_REGION``,
    ``AWS_DEFAULT_REGION`` and the execution role's credentials; no AWS config file
    exists there, so none of this machine's is read.
    """
    return {
        **base,
        "MELANGE_BACKEND": "aws",
        "AWS_LAMBDA_FUNCTION_NAME": "bench-lambda",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIABENCHMARKEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_SESSION_TOKEN": "bench-token",
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
    }


def run_child(code: str, env: dict[str, str]) -> tuple[Any, float]:
    """Run ``code`` in a fresh interpreter; return its JSON line and its start-to-exit time."""
    began = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if completed.returncode != 0:
        raise RuntimeError(f"child failed with {completed.returncode}:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1]), elapsed


def write_event(env: dict[str, str], tmp: Path) -> Path:
    """Build the 10-record event from messages melange published; return its file."""
    event, _ = run_child(EVENT_CHILD, env)
    path = tmp / "event.json"
    path.write_text(json.dumps(event))
    return path


def powertools_missing() -> str | None:
    """Return why Powertools cannot run here, or ``None`` if it can."""
    if importlib.util.find_spec("aws_lambda_powertools") is None:
        return (
            f"aws-lambda-powertools is not installed in {sys.executable}; `make bench` "
            "installs it (the bench dependency group)"
        )
    return None


def versions() -> str:
    """Return the versions of what is compared, for the header."""
    try:
        powertools = importlib.metadata.version("aws-lambda-powertools")
    except importlib.metadata.PackageNotFoundError:
        powertools = "not installed"
    return f"aws-lambda-powertools {powertools}"


# -- cold start ----------------------------------------------------------------------------


def bench_cold(runs: int, tmp: Path, base: dict[str, str], event: Path) -> None:
    """Start each function ``runs`` times, taking turns; print medians and the verdicts."""
    memory, aws = memory_env(base), aws_env(base, tmp)
    ways = [
        Way("melange, in memory", MELANGE, memory),
        Way("melange, MELANGE_BACKEND=aws", MELANGE, aws),
        Way("Powertools BatchProcessor", POWERTOOLS, aws),
        Way("import boto3", None, aws),
    ]
    for way in ways[:3]:
        found, _ = run_child(NETWORK_CHILD.format(module=way.module, event=str(event)), way.env)
        if found["network"]:
            raise RuntimeError(f"{way.label}: sockets at import or invocation: {found['network']}")
        print(
            f"{way.label}: no socket opened or resolved (import + first invocation); "
            f"boto3 {'loaded' if found['boto3'] else 'not loaded'}"
        )
    for way in ways:  # untimed: fills the bytecode cache
        run_child(way.code(event), way.env)
    samples: dict[str, list[tuple[dict[str, Any], float]]] = {way.label: [] for way in ways}
    for number in range(runs):
        turn = ways[number % len(ways) :] + ways[: number % len(ways)]
        for way in turn:
            samples[way.label].append(run_child(way.code(event), way.env))
    report_cold(runs, samples, [way.label for way in ways])


def _median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def report_cold(
    runs: int, samples: dict[str, list[tuple[dict[str, Any], float]]], labels: list[str]
) -> None:
    """Print each way's medians and the two targets' verdicts."""
    print(
        f"\n== cold start: fresh interpreters, median of {runs} each, taking turns "
        "(bytecode cached) =="
    )
    header = (
        f"{'function':<32}{'import':>9}{'min':>8}{'max':>8}{'1st call':>10}{'process':>10}  boto3"
    )
    print(header)
    print("-" * len(header))
    init: dict[str, float] = {}
    for label in labels:
        found = samples[label]
        inits = [child["init"] for child, _ in found]
        firsts = [child["first"] for child, _ in found if "first" in child]
        init[label] = _median_ms(inits)
        first = f"{_median_ms(firsts):>8.1f}ms" if firsts else f"{'':>10}"
        loaded = "loaded" if all(child["boto3"] for child, _ in found) else "not loaded"
        print(
            f"{label:<32}{init[label]:>7.1f}ms{1000 * min(inits):>6.1f}ms"
            f"{1000 * max(inits):>6.1f}ms{first}"
            f"{_median_ms([elapsed for _, elapsed in found]):>8.1f}ms  {loaded}"
        )
    print(
        "(import: the function module's import, graph and handler built; 1st call: its "
        f"first invocation, {RECORDS} records; process: the child from start to exit)"
    )

    # The children of one round ran one after the other: their ratios and differences
    # drift less with the machine's load than the medians do.
    def paired(label: str, other: str, pair: Callable[[float, float], float]) -> float:
        values = zip(samples[label], samples[other], strict=True)
        return statistics.median(pair(a["init"], b["init"]) for (a, _), (b, _) in values)

    powertools, boto3 = "Powertools BatchProcessor", "import boto3"
    figures = {}
    for label in ("melange, in memory", "melange, MELANGE_BACKEND=aws"):
        figures[label] = (
            paired(label, powertools, lambda a, b: a / b),
            1000 * paired(label, boto3, lambda a, b: a - b),
        )
        print(
            f"{label}: {figures[label][0]:.3f}x Powertools', {figures[label][1]:+.1f} ms "
            "against import boto3 (medians of the rounds' ratios and differences)"
        )
    deployed = "melange, MELANGE_BACKEND=aws"
    ratio, above = figures[deployed]
    verdict(
        f"cold start (MELANGE_BACKEND=aws) at most {RATIO_TARGET}x Powertools': {ratio:.3f}x "
        f"({init[deployed]:.1f} vs {init[powertools]:.1f} ms, medians)",
        ratio <= RATIO_TARGET,
    )
    verdict(
        f"cold start (MELANGE_BACKEND=aws) no more than {ABOVE_BOTO3_MS:g} ms above import "
        f"boto3: {above:+.1f} ms ({init[deployed]:.1f} vs {init[boto3]:.1f} ms, medians)",
        above <= ABOVE_BOTO3_MS,
    )


# -- warm invocations ----------------------------------------------------------------------


def warm_child(event_path: str, iterations: int, rounds: int) -> None:
    """Time both handlers in this process; print the blocks' times per invocation as JSON."""
    melange = importlib.import_module(MELANGE)
    powertools = importlib.import_module(POWERTOOLS)
    namespace: dict[str, Any] = {}
    exec(CONTEXT, namespace)  # noqa: S102  # the constant above
    context = namespace["context"]
    event = json.loads(Path(event_path).read_text())
    orders = melange.handler.app.consumers[0]
    counters = {
        "melange": lambda: orders.handled,
        "powertools": lambda: powertools.handled,
    }
    handlers = {"melange": melange.handler, "powertools": powertools.handler}
    for name, handler in handlers.items():  # warm-up, and every record handled, none failed
        for _ in range(max(iterations // 5, 10)):
            answer = handler(event, context)
            if answer != {"batchItemFailures": []}:
                raise RuntimeError(f"{name} reported failures: {answer}")
    blocks: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in handlers}
    names = list(handlers)
    for number in range(rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            handler, before = handlers[name], counters[name]()
            began, began_cpu = time.perf_counter(), time.process_time()
            for _ in range(iterations):
                handler(event, context)
            blocks[name]["cpu"].append((time.process_time() - began_cpu) / iterations)
            blocks[name]["wall"].append((time.perf_counter() - began) / iterations)
            if counters[name]() - before != iterations * RECORDS:
                raise RuntimeError(f"{name} handled {counters[name]() - before} messages")
    print(json.dumps(blocks))


def bench_warm(iterations: int, rounds: int, base: dict[str, str], event: Path) -> None:
    """Run the warm child on the in-memory backend and print the verdict."""
    args = ["--warm-child", str(event), "--iterations", str(iterations), "--rounds", str(rounds)]
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        cwd=REPO_ROOT,
        env=memory_env(base),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"warm child failed with {completed.returncode}:\n{completed.stderr}")
    blocks: dict[str, dict[str, list[float]]] = json.loads(
        completed.stdout.strip().splitlines()[-1]
    )
    print(
        f"\n== warm invocation: {RECORDS}-record batch, no-op handlers, {rounds} rounds of "
        f"{iterations} invocations each, one process (in-memory backend) =="
    )
    ratios = {}
    for clock in ("wall", "cpu"):
        melange, powertools = blocks["melange"][clock], blocks["powertools"][clock]
        ratios[clock] = [m / p for m, p in zip(melange, powertools, strict=True)]
    for name in ("melange", "powertools"):
        wall, cpu = blocks[name]["wall"], blocks[name]["cpu"]
        print(
            f"{name:<12}{1e6 * statistics.median(wall):>8.1f} us per invocation "
            f"({1e6 * statistics.median(wall) / RECORDS:.1f} us per record; blocks "
            f"{1e6 * min(wall):.1f}-{1e6 * max(wall):.1f} us); CPU "
            f"{1e6 * statistics.median(cpu):.1f} us"
        )
    ratio, cpu_ratio = statistics.median(ratios["wall"]), statistics.median(ratios["cpu"])
    print(f"CPU time: {cpu_ratio:.3f}x (median of the rounds' ratios of process_time)")
    verdict(
        f"warm invocation at most {WARM_TARGET}x Powertools' process_partial_response: "
        f"{ratio:.3f}x (median of the rounds' ratios, {min(ratios['wall']):.3f}-"
        f"{max(ratios['wall']):.3f})",
        ratio <= WARM_TARGET,
    )


def main() -> int:
    """Parse the options, run the parts and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", action="append", choices=PARTS, help="run this part only")
    parser.add_argument("--runs", type=int, default=21, help="cold starts of each function")
    parser.add_argument("--iterations", type=int, default=500, help="invocations per warm block")
    parser.add_argument("--rounds", type=int, default=15, help="warm blocks of each handler")
    parser.add_argument("--warm-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.runs, args.iterations, args.rounds) < 1:
        parser.error("--runs, --iterations and --rounds must be at least 1")
    if args.warm_child:
        warm_child(args.warm_child, args.iterations, args.rounds)
        return 0
    machine_header("benchmarks/lambda.py")
    print(f"# {versions()}")
    problem = powertools_missing()
    if problem is not None:
        print(f"SKIP  every part: {problem}")
        return 0
    parts = args.only or list(PARTS)
    with tempfile.TemporaryDirectory(prefix="melange-bench-lambda-") as name:
        tmp = Path(name)
        base = base_env(str(tmp / "pycache"))
        event = write_event(memory_env(base), tmp)
        if "cold" in parts:
            bench_cold(args.runs, tmp, base, event)
        if "warm" in parts:
            bench_warm(args.iterations, args.rounds, base, event)
    return 0


if __name__ == "__main__":
    sys.exit(main())
