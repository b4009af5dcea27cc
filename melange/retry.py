"""The retry decisions' former home: ``Backoff`` and friends now live in ``melange.decisions``.

Kept so that imports written for earlier releases (``from melange.retry import Backoff``)
keep working.
"""

from __future__ import annotations

from melange.decisions import OUTAGE_BACKOFF, Backoff, is_last_receive, may_heal

__all__ = ["OUTAGE_BACKOFF", "Backoff", "is_last_receive", "may_heal"]
