"""Unit tests for melange.exceptions: the hierarchy, the messages and the documented tree."""

from __future__ import annotations

import builtins
import re
import traceback
import types
from collections.abc import Callable

import pytest

from melange import exceptions
from melange.exceptions import (
    BackendError,
    BatchEntryFailure,
    BatchPublishError,
    ConfigurationError,
    MelangeError,
    MessageRejectedError,
    MessageTooLargeError,
    Problem,
    QueueNotFoundError,
    SubscriptionConflictError,
    TopicNotFoundError,
    without_frames,
)

#: The values exported beside the exceptions, which they carry.
VALUES = ("BatchEntryFailure", "Problem")
EXCEPTION_NAMES = [name for name in exceptions.__all__ if name not in VALUES]

#: A tree entry: the connector ("├── " or "└── ") and the class name after it.
TREE_ENTRY = re.compile(r"[├└]── (?P<name>\w+)")


def _documented_tree() -> list[tuple[int, str]]:
    """Return (depth, name) for every entry drawn in the module docstring's tree."""
    assert exceptions.__doc__ is not None
    lines = exceptions.__doc__.splitlines()
    (root,) = [line for line in lines if line.strip() == "MelangeError"]
    root_column = root.index("MelangeError")
    entries = [(0, "MelangeError")]
    for line in lines:
        match = TREE_ENTRY.search(line)
        if match:
            entries.append(((match.start() - root_column) // 4 + 1, match["name"]))
    return entries


@pytest.mark.parametrize("name", EXCEPTION_NAMES)
def test_every_exception_derives_from_melange_error(name: str) -> None:
    """Every exception class that melange.exceptions exports is a MelangeError."""
    cls = getattr(exceptions, name)
    assert issubclass(cls, BaseException)
    assert issubclass(cls, MelangeError)


def test_batch_entry_failure_is_a_value_not_an_exception() -> None:
    """BatchEntryFailure is exported as a value type, not an exception."""
    assert not issubclass(BatchEntryFailure, BaseException)


def test_queue_not_found_names_the_queue_and_carries_it() -> None:
    """QueueNotFoundError names the queue in its message and carries it with the operation."""
    error = QueueNotFoundError("orders-queue", operation="publish")

    assert "'orders-queue'" in str(error)
    assert error.queue_name == "orders-queue"
    assert error.operation == "publish"
    assert error.code == "QueueDoesNotExist"
    assert isinstance(error, BackendError)


def test_topic_not_found_names_the_topic_and_carries_it() -> None:
    """TopicNotFoundError names the topic in its message and carries it with the operation."""
    error = TopicNotFoundError("orders-topic", operation="publish")

    assert "'orders-topic'" in str(error)
    assert error.topic_name == "orders-topic"
    assert error.operation == "publish"
    assert error.code == "NotFound"
    assert isinstance(error, BackendError)


@pytest.mark.parametrize("error_type", [QueueNotFoundError, TopicNotFoundError])
def test_a_missing_name_reported_by_a_command_names_the_command_not_the_call(
    error_type: type[QueueNotFoundError | TopicNotFoundError],
) -> None:
    """declared_with(command) says to run that command, keeping every other attribute."""
    error = error_type("vip", operation="receive", broker_name="shop-vip")

    hinted = error.declared_with("python -m melange declare app:graph")

    assert type(hinted) is error_type
    assert "declare it first with `python -m melange declare app:graph`" in str(hinted)
    assert "MELANGE_PREFIX" in str(hinted)
    assert "backend.declare_" not in str(hinted)
    assert hinted.declare_command == "python -m melange declare app:graph"
    assert (hinted.operation, hinted.broker_name, hinted.code) == (
        "receive",
        "shop-vip",
        error.code,
    )


@pytest.mark.parametrize(
    ("error_type", "call"),
    [(QueueNotFoundError, "declare_queue('vip')"), (TopicNotFoundError, "declare_topic('vip')")],
)
def test_a_name_missing_from_the_in_memory_backend_says_how_to_choose_a_broker(
    error_type: type[QueueNotFoundError | TopicNotFoundError], call: str
) -> None:
    """On the in-memory backend the message says so, and names MELANGE_ENV and MELANGE_BACKEND."""
    error = error_type("vip", in_memory=True)

    assert "does not exist on the in-memory backend" in str(error)
    assert f"backend.{call}" in str(error)
    assert "MELANGE_ENV=<name>" in str(error)
    assert "MELANGE_BACKEND=local or aws" in str(error)
    # Run in another process, the declare command cannot fill this process's memory:
    # the broker comes first.
    hinted = error.declared_with("python -m melange declare app:graph")
    assert hinted.in_memory
    assert "backend." not in str(hinted)
    assert str(hinted).index("MELANGE_ENV") < str(hinted).index("python -m melange declare")


def test_message_too_large_names_destination_size_and_limit() -> None:
    """MessageTooLargeError names the destination, size and limit and carries them."""
    error = MessageTooLargeError(destination="orders", size=300_000, limit=262_144)

    message = str(error)
    assert "'orders'" in message
    assert "300,000" in message
    assert "262,144" in message
    assert (error.destination, error.size, error.limit) == ("orders", 300_000, 262_144)
    assert error.code == "MessageTooLarge"


def test_a_message_refused_before_sending_is_not_a_backend_error() -> None:
    """MessageTooLargeError is a MessageRejectedError: ``except BackendError`` never retries it."""
    error = MessageTooLargeError(destination="orders", size=300_000, limit=262_144)

    assert isinstance(error, MessageRejectedError)
    assert not isinstance(error, BackendError)
    with pytest.raises(MessageRejectedError):
        try:
            raise error
        except BackendError:  # a retry loop's clause: must not catch it
            pytest.fail("a message that can never be sent was caught as a broker error")


def test_configuration_error_carries_its_problems() -> None:
    """A ConfigurationError keeps its problems as a tuple of Problem values a program can read."""
    problem = Problem("MELANGE_WORKERS", "many", "an integer >= 1")
    error = ConfigurationError("MELANGE_WORKERS='many' is not an integer >= 1", problems=[problem])

    assert error.problems == (problem,)
    assert str(problem) == "MELANGE_WORKERS='many': expected an integer >= 1"
    assert str(error) == "MELANGE_WORKERS='many' is not an integer >= 1"


def test_a_subscription_conflict_has_one_problem_per_consumer() -> None:
    """SubscriptionConflictError states each consumer's value, expected to be the other's."""
    error = SubscriptionConflictError(
        queue="shared", field="workers", consumers=("one", "two"), values=(2, 4)
    )

    assert [(p.setting, p.value) for p in error.problems] == [("workers", 2), ("workers", 4)]
    assert "'two'" in error.problems[0].expected
    assert "'one'" in error.problems[1].expected


def test_batch_publish_error_names_the_first_failure_and_carries_all() -> None:
    """BatchPublishError counts failures, names the destination and first failure, keeps all."""
    failures = [
        BatchEntryFailure(
            index=2, message_id="m2", code="Throttled", reason="slow down", sender_fault=False
        ),
        BatchEntryFailure(
            index=5, message_id="m5", code="Invalid", reason="bad", sender_fault=True
        ),
    ]

    error = BatchPublishError("orders", failures=failures, succeeded=["m0", "m1"])

    message = str(error)
    assert "2 of 4" in message
    assert "'orders'" in message
    assert "entry 2" in message
    assert "Throttled: slow down" in message
    assert error.destination == "orders"
    assert error.failures == tuple(failures)
    assert error.succeeded == ("m0", "m1")
    assert error.code == "Throttled"


def test_docstring_tree_lists_every_exception_name() -> None:
    """The module docstring's tree draws exactly the exported exception classes."""
    drawn = [name for _, name in _documented_tree()]

    assert sorted(drawn) == sorted(EXCEPTION_NAMES)
    assert "BatchEntryFailure" not in drawn


def test_docstring_tree_matches_the_class_hierarchy() -> None:
    """Each class drawn under a parent in the docstring's tree is a direct subclass of it."""
    parents: list[str] = []
    for depth, name in _documented_tree():
        del parents[depth:]
        if parents:
            assert getattr(exceptions, parents[-1]) in getattr(exceptions, name).__bases__
        parents.append(name)


def _call_after_a_cache_miss(function: Callable[[], object]) -> object:
    """Call ``function`` while handling a KeyError, as pinject's scopes do."""
    try:
        return {}["missing"]
    except KeyError:
        return function()


#: ``_call_after_a_cache_miss`` as if it were machinery's: its frames say module 'machinery'.
MACHINERY_CALL = types.FunctionType(
    _call_after_a_cache_miss.__code__, {"__name__": "machinery", "__builtins__": builtins}
)


def _fails() -> None:
    raise ValueError("the application's own")


def _fails_while_handling_its_own() -> None:
    try:
        raise LookupError("first")
    except LookupError:
        raise ValueError("second")  # noqa: B904 (its context is what the test looks at)


def test_without_frames_leaves_out_the_machinerys_frames_and_its_own_contexts() -> None:
    """Frames of the named modules go; a context raised wholly inside them is not shown."""
    with pytest.raises(ValueError, match="own") as caught:
        MACHINERY_CALL(_fails)

    error = without_frames(caught.value, ["machinery"])

    assert error is caught.value
    frames = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
    assert frames[1:] == ["_fails"]  # the test's own frame, then the application's
    assert error.__suppress_context__  # the KeyError of the cache miss


def test_without_frames_keeps_a_context_the_application_raised() -> None:
    """An error raised while handling one of the application's own keeps that context."""
    with pytest.raises(ValueError, match="second") as caught:
        MACHINERY_CALL(_fails_while_handling_its_own)

    error = without_frames(caught.value, ["machinery"])

    assert not error.__suppress_context__
    assert isinstance(error.__context__, LookupError)
    assert error.__context__.__suppress_context__  # its own context was the cache miss
