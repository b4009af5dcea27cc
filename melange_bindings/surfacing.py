"""Provider errors that say what was being built, for every binding spec module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from melange.exceptions import ConfigurationError, MelangeError, Problem

__all__ = ["surfaced"]


@contextmanager
def surfaced(name: str) -> Iterator[None]:
    """Make a provider's unexpected exception a ``ConfigurationError`` naming what it built.

    pinject reports a ``TypeError`` raised inside a provider as a wrong-arguments error
    about the provider itself, hiding the cause; melange's own errors already say what
    to fix and pass through unchanged. (A decorator would hide the provider's argument
    names, which pinject reads to inject them.)
    """
    try:
        yield
    except MelangeError:
        raise
    except Exception as exc:
        raise ConfigurationError(
            f"building {name!r} failed with {type(exc).__name__}: {exc}; check the melange "
            "settings (MELANGE_*) and the application's binding specs",
            problems=[
                Problem(
                    name,
                    f"{type(exc).__name__}: {exc}",
                    "settings and binding specs it can be built from",
                )
            ],
        ) from exc
