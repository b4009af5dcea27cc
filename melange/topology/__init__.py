"""Topology as values: queues, topics and subscriptions to declare, and what was declared.

``specs`` holds ``QueueSpec``, ``TopicSpec``, ``SubscriptionSpec`` and ``Declaration``,
validated when built; ``filter_policy`` validates and matches SNS filter policies;
``declared`` reports what a declaration created, found or changed.

May import: ``melange.exceptions``, ``messages`` and ``limits`` only.
"""

from __future__ import annotations

from melange.topology.specs import Declaration, QueueSpec, SubscriptionSpec, TopicSpec

__all__ = ["Declaration", "QueueSpec", "SubscriptionSpec", "TopicSpec"]
