"""Dispatcher options: one validated value, defaults written once (melange 7's: test_compat)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from melange import AckPolicy, Backoff, DispatcherOptions, MessageDispatcher
from melange.backends import InMemoryBackend
from melange.exceptions import ConfigurationError, Problem
from melange.options import DEFAULT_OPTIONS
from melange.serializers import JsonSerializer, SerializerRegistry
from melange.settings import SETTINGS, DispatcherSettings, load_settings, options_from_settings


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a JSON-only registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


def test_keywords_build_the_options_and_options_can_be_given_whole(
    registry: SerializerRegistry,
) -> None:
    """Keywords build a DispatcherOptions; options= is taken as is, keywords override it."""
    backend = InMemoryBackend()
    by_keywords = MessageDispatcher(registry, backend, workers=4, visibility_timeout=60)
    assert by_keywords.options == DispatcherOptions(workers=4, visibility_timeout=60)
    given = DispatcherOptions(workers=8, ack_policy=AckPolicy.ALWAYS)
    assert MessageDispatcher(registry, backend, options=given).options is given
    overridden = MessageDispatcher(registry, backend, options=given, workers=2)
    assert overridden.options == attrs.evolve(given, workers=2)


def test_an_unknown_keyword_is_refused(registry: SerializerRegistry) -> None:
    """A misspelt option is a TypeError naming it, as for any Python call."""
    with pytest.raises(TypeError, match="wrokers"):
        MessageDispatcher(registry, InMemoryBackend(), wrokers=2)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"workers": 0}, "workers=0"),
        ({"workers": 2, "pollers": 3}, "pollers=3"),
        ({"max_messages": 0}, "max_messages=0"),
        ({"wait_time_seconds": -1}, "wait_time_seconds=-1"),
        ({"visibility_timeout": 43_201}, "visibility_timeout=43201"),
        ({"ack_flush_interval": 0}, "ack_flush_interval=0"),
    ],
)
def test_options_are_validated_once_when_built(options: dict[str, Any], named: str) -> None:
    """Every out-of-range option raises ConfigurationError naming it, with no dispatcher."""
    with pytest.raises(ConfigurationError, match=named):
        DispatcherOptions(**options)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"workers": 0}, Problem("workers", 0, "an integer >= 1")),
        ({"workers": 2, "pollers": 3}, Problem("pollers", 3, "an integer 1-2 (workers)")),
        ({"max_messages": 11}, Problem("max_messages", 11, "an integer 1-10")),
        ({"wait_time_seconds": 21}, Problem("wait_time_seconds", 21, "an integer 0-20")),
        (
            {"visibility_timeout": 0},
            Problem("visibility_timeout", 0, "an integer 1-43200"),
        ),
        (
            {"on_cache_unavailable": "drop"},
            Problem("on_cache_unavailable", "drop", "'process' or 'redeliver'"),
        ),
        (
            {"ack_flush_interval": 0},
            Problem("ack_flush_interval", 0, "a number of seconds > 0"),
        ),
    ],
)
def test_an_option_out_of_range_is_the_problem_of_the_error(
    options: dict[str, Any], problem: Problem
) -> None:
    """The error's one problem names the option, the value given and the range allowed."""
    with pytest.raises(ConfigurationError) as caught:
        DispatcherOptions(**options)

    assert caught.value.problems == (problem,)


@pytest.mark.parametrize(
    ("backoff", "problem"),
    [
        ({"base": -1}, Problem("base", -1, "a number of seconds >= 0")),
        ({"jitter": 2}, Problem("jitter", 2, "a fraction 0-1")),
    ],
)
def test_a_backoff_out_of_range_is_the_problem_of_the_error(
    backoff: dict[str, float], problem: Problem
) -> None:
    """A Backoff field out of range is reported as that field's problem."""
    with pytest.raises(ConfigurationError) as caught:
        Backoff(**backoff)

    assert caught.value.problems == (problem,)


def test_settings_defaults_are_the_options_defaults() -> None:
    """Unset settings build exactly the default options: defaults are written once."""
    assert options_from_settings(DispatcherSettings()) == DEFAULT_OPTIONS
    assert options_from_settings(load_settings(environ={}).dispatcher) == DEFAULT_OPTIONS
    documented = {s.path[-1]: s.default for s in SETTINGS if s.path[:1] == ("dispatcher",)}
    assert documented["workers"] == str(DEFAULT_OPTIONS.workers)
    assert documented["visibility_timeout"] == str(DEFAULT_OPTIONS.visibility_timeout)


def test_settings_reach_the_options() -> None:
    """MELANGE_* dispatcher variables become the matching options."""
    settings = load_settings(
        environ={
            "MELANGE_WORKERS": "6",
            "MELANGE_WAIT_TIME_SECONDS": "5",
            "MELANGE_VISIBILITY_TIMEOUT": "90",
            "MELANGE_BACKOFF_BASE": "2",
            "MELANGE_BACKOFF_CAP": "60",
            "MELANGE_BACKOFF_JITTER": "0",
            "MELANGE_ACK_UNHANDLED": "true",
        }
    )
    assert options_from_settings(settings.dispatcher) == DispatcherOptions(
        workers=6,
        wait_time_seconds=5,
        visibility_timeout=90,
        backoff=Backoff(base=2, cap=60, jitter=0),
        ack_unhandled=True,
    )


def test_pollers_default_to_one_per_batch_of_workers() -> None:
    """Without pollers, one poller per max_messages workers, rounded up."""
    assert DispatcherOptions(workers=25).poller_count == 3
    assert DispatcherOptions(workers=25, max_messages=5).poller_count == 5
    assert DispatcherOptions(workers=25, pollers=2).poller_count == 2
