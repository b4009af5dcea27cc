"""Backoff.delay: exponential, capped, jittered, in whole seconds, never negative."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from melange.exceptions import ConfigurationError
from melange.options import Backoff

#: The longest visibility timeout SQS accepts, in seconds.
SQS_MAX_DELAY = 43_200

#: Zero, or at least a millisecond: the exponent is clamped at 62, which only a base below
#: about 1e-14 s would reach before the cap (see test_a_tiny_base_still_grows_to_the_cap).
bases = st.just(0.0) | st.floats(min_value=1e-3, max_value=1e6)
#: Whole-second caps: a fractional cap cannot hold once the delay is rounded up to seconds.
caps = st.integers(min_value=0, max_value=100_000)
jitters = st.floats(min_value=0, max_value=1)
receive_counts = st.integers(min_value=-5, max_value=10**6)
#: What ``random.random`` returns: [0, 1).
rands = st.floats(min_value=0, max_value=1, exclude_max=True)


def fixed(value: float) -> object:
    """Return a ``rand`` callable that always gives ``value``."""
    return lambda: value


@given(base=bases, cap=caps, jitter=jitters, receive_count=receive_counts, rand=rands)
def test_delay_is_never_negative(
    base: float, cap: int, jitter: float, receive_count: int, rand: float
) -> None:
    """Whatever the parameters, the delay is a whole number of seconds >= 0."""
    delay = Backoff(base=base, cap=cap, jitter=jitter).delay(receive_count, rand=fixed(rand))
    assert isinstance(delay, int)
    assert delay >= 0


@given(base=bases, cap=caps, jitter=jitters, receive_count=receive_counts, rand=rands)
@example(base=1e6, cap=100_000, jitter=0.0, receive_count=10**6, rand=0.0)
def test_delay_never_exceeds_the_cap_nor_the_sqs_maximum(
    base: float, cap: int, jitter: float, receive_count: int, rand: float
) -> None:
    """The delay is at most ``cap`` and at most 43,200 s, the longest SQS allows."""
    delay = Backoff(base=base, cap=cap, jitter=jitter).delay(receive_count, rand=fixed(rand))
    assert delay <= cap
    assert delay <= SQS_MAX_DELAY


@given(base=bases, cap=caps, receive_count=st.integers(min_value=-5, max_value=200))
def test_without_jitter_the_delay_never_shrinks_as_failures_grow(
    base: float, cap: int, receive_count: int
) -> None:
    """With ``jitter=0`` the delay is monotone non-decreasing in ``receive_count``."""
    backoff = Backoff(base=base, cap=cap, jitter=0)
    assert backoff.delay(receive_count) <= backoff.delay(receive_count + 1)


@given(base=bases, cap=caps, jitter=jitters, receive_count=receive_counts, rand=rands)
def test_jitter_spreads_the_delay_over_its_fraction(
    base: float, cap: int, jitter: float, receive_count: int, rand: float
) -> None:
    """The delay lies in ``[full * (1 - jitter), full]``, both ends rounded up to seconds."""
    exponent = max(receive_count, 1) - 1
    growth = base * 2.0**exponent if exponent < 1_000 else (math.inf if base > 0 else 0.0)
    full = min(cap, growth, SQS_MAX_DELAY)
    delay = Backoff(base=base, cap=cap, jitter=jitter).delay(receive_count, rand=fixed(rand))
    # A tolerance for float rounding: 15 * (1 - 1/3) is 10.000000000000002, not 10.
    assert math.ceil(full * (1 - jitter) - 1e-9) <= max(delay, 1) <= max(math.ceil(full), 1)


@given(
    base=st.floats(min_value=1e-3, max_value=1e6),
    cap=st.integers(min_value=1, max_value=100_000),
    jitter=st.floats(min_value=0, max_value=1, exclude_max=True),
    receive_count=receive_counts,
    rand=rands,
)
def test_a_positive_delay_is_at_least_one_second(
    base: float, cap: int, jitter: float, receive_count: int, rand: float
) -> None:
    """With a positive base and cap the delay is at least 1 s, so a retry never returns at once."""
    delay = Backoff(base=base, cap=cap, jitter=jitter).delay(receive_count, rand=fixed(rand))
    assert delay >= 1


def test_full_jitter_still_waits_at_least_one_second() -> None:
    """With ``jitter=1`` and a random draw of 0.0 the delay is still at least 1 s."""
    assert Backoff(base=1, cap=300, jitter=1).delay(1, rand=fixed(0.0)) >= 1


def test_a_tiny_base_still_grows_to_the_cap() -> None:
    """A base of 1e-100 s doubled 399 times (about 1e20 s) is capped at 10 s, not left at 1 s."""
    assert Backoff(base=1e-100, cap=10, jitter=0).delay(400) == 10


def test_without_jitter_the_delay_doubles_up_to_the_cap() -> None:
    """With base 1 and no jitter the delays are 1, 2, 4, 8, ... until they reach the cap."""
    backoff = Backoff(base=1, cap=100, jitter=0)
    assert [backoff.delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 64, 100, 100]


def test_without_jitter_the_base_scales_every_delay() -> None:
    """With base 5 and no jitter the delays are 5, 10, 20, 40, capped at 30 here."""
    backoff = Backoff(base=5, cap=30, jitter=0)
    assert [backoff.delay(n) for n in range(1, 6)] == [5, 10, 20, 30, 30]


def test_a_fractional_delay_is_rounded_up_to_whole_seconds() -> None:
    """A base of 0.3 s waits 1 s, then 1 s, then 2 s (0.3, 0.6, 1.2 rounded up)."""
    backoff = Backoff(base=0.3, cap=300, jitter=0)
    assert [backoff.delay(n) for n in range(1, 4)] == [1, 1, 2]


def test_the_default_backoff_spreads_half_the_delay() -> None:
    """The defaults (base 1, cap 300, jitter 0.5) give 150-300 s once capped."""
    backoff = Backoff()
    assert backoff.delay(20, rand=fixed(0.0)) == 150
    assert backoff.delay(20, rand=fixed(0.999_999)) == 300


@pytest.mark.parametrize("receive_count", [0, -1, -(10**6)])
def test_a_receive_count_below_one_counts_as_the_first_failure(receive_count: int) -> None:
    """A receive count of 0 or below gives the same delay as the first failure."""
    backoff = Backoff(base=7, cap=300, jitter=0)
    assert backoff.delay(receive_count) == backoff.delay(1) == 7


def test_a_huge_receive_count_does_not_overflow() -> None:
    """A receive count of a million gives the cap instead of an overflow."""
    assert Backoff(base=1, cap=300, jitter=0).delay(10**6) == 300
    assert Backoff(base=1e300, cap=10**9, jitter=0).delay(10**6) == SQS_MAX_DELAY


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"base": -1}, "base=-1"),
        ({"cap": -0.5}, "cap=-0.5"),
        ({"jitter": -0.1}, "jitter=-0.1"),
        ({"jitter": 1.5}, "jitter=1.5"),
    ],
)
def test_invalid_parameters_are_refused_naming_the_value(
    kwargs: dict[str, float], named: str
) -> None:
    """A negative base or cap, or a jitter outside 0-1, raises ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=named):
        Backoff(**kwargs)
