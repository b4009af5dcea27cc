"""Retry decisions as pure functions: when a failed message comes back, how long to back off.

Also whether a failed request can succeed later, and whether a receive was a message's last.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import attrs

from melange import limits
from melange.exceptions import (
    BackendError,
    BackendRefusedError,
    ConfigurationError,
    QueueNotFoundError,
)
from melange.messages import RedrivePolicy

__all__ = ["OUTAGE_BACKOFF", "Backoff", "is_last_receive", "may_heal"]


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ConfigurationError(
            f"backoff {attribute.name}={value!r} is negative; use a number of seconds >= 0"
        )


def _fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value <= 1:
        raise ConfigurationError(
            f"backoff jitter={value!r} is outside 0-1; it is the fraction of the delay that "
            "is randomised (0.5 spreads retries over 50-100% of the delay)"
        )


@attrs.frozen
class Backoff:
    """Exponential backoff with jitter, capped.

    The n-th failed receive (``receive_count`` = n) waits ``base * 2 ** (n - 1)`` seconds,
    at most ``cap``; ``jitter`` randomises that fraction of it, so failing messages do not
    come back in lockstep.

    Attributes:
        base: the delay after the first failure, in seconds.
        cap: the longest delay, in seconds (SQS allows up to 43,200).
        jitter: the randomised fraction of each delay, 0 to 1.
    """

    base: float = attrs.field(default=1.0, validator=_non_negative)
    cap: float = attrs.field(default=300.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.5, validator=_fraction)

    def delay(self, receive_count: int, rand: Callable[[], float] = random.random) -> int:
        """Return whole seconds to hide a message after its ``receive_count``-th failure."""
        ceiling = min(self.cap, float(limits.MAX_VISIBILITY_TIMEOUT))
        if self.base <= 0 or ceiling <= 0:
            return 0
        doublings = max(receive_count, 1) - 1
        # Compare exponents rather than compute 2**doublings, which overflows for huge counts.
        if doublings >= math.log2(ceiling / self.base):
            full = ceiling
        else:
            full = min(ceiling, self.base * 2.0**doublings)
        spread = full * self.jitter
        # Whole seconds, at least 1, so a retry never comes back at once.
        return max(1, math.ceil(full - spread + spread * rand()))


#: The pause after the n-th failure in a row to reach the broker or the deduplication cache.
OUTAGE_BACKOFF = Backoff(base=0.5, cap=30.0, jitter=0.5)


def may_heal(exc: BackendError) -> bool:
    """Return whether a failed broker request can succeed if tried again later.

    Throttling, 5xx answers and unreachable endpoints heal; a refusal (credentials,
    permissions, an unsupported or invalid request) and a missing queue do not.
    """
    return not isinstance(exc, BackendRefusedError | QueueNotFoundError)


def is_last_receive(receive_count: int, policy: RedrivePolicy | None) -> bool:
    """Return whether the broker dead-letters, instead of delivering again, after this receive."""
    return policy is not None and receive_count >= policy.max_receive_count
