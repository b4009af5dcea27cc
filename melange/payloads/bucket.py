"""What ``declare`` makes of the large-payload bucket: the decisions, on values, no I/O.

``python -m melange declare`` makes the bucket exist, gives it a lifecycle rule that
expires the objects under ``key_prefix`` after ``expiry_days`` (the objects of a topic's
messages are deleted by no consumer: this rule is what removes them), and, when
``MELANGE_LARGE_PAYLOAD_ENCRYPTION`` is set, makes that the bucket's default encryption.
``lifecycle_rules`` and ``default_encryption`` decide, from what the bucket has, what to
write and what that does; ``S3PayloadStore.declare`` reads and writes. The bucket's other
lifecycle rules are kept: S3 replaces the whole configuration on every write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from melange.payloads.store import LargePayloads
from melange.topology.declared import Change, Effect

__all__ = [
    "BucketDeclared",
    "DeclaresBucket",
    "default_encryption",
    "lifecycle_rule",
    "lifecycle_rules",
    "rule_id",
]

Rule = Mapping[str, Any]


@attrs.frozen
class BucketDeclared:
    """What declaring one part of the large-payload bucket did, printed as ``Declared`` is.

    Attributes:
        resource: what was declared, e.g. ``bucket 'payloads'``.
        effect: created, changed or as is.
        changes: for ``CHANGED``, each setting that differed.
    """

    resource: str
    effect: Effect
    changes: tuple[Change, ...] = ()

    def __str__(self) -> str:
        line = f"{self.effect.value:<8} {self.resource}"
        if self.changes:
            line += " (" + "; ".join(map(str, self.changes)) + ")"
        return line


@runtime_checkable
class DeclaresBucket(Protocol):
    """A payload store whose bucket ``declare`` can make as its settings state."""

    def declare(self) -> list[BucketDeclared]:
        """Make the bucket as the settings state; return what each part of it did."""


def rule_id(settings: LargePayloads) -> str:
    """Return the ID of the lifecycle rule melange keeps for ``settings``' key prefix.

    One rule per prefix: applications sharing a bucket under their own prefixes each
    keep theirs.
    """
    return f"melange-payloads:{settings.key_prefix}"[:255]


def lifecycle_rule(settings: LargePayloads) -> dict[str, Any]:
    """Return the rule expiring the objects under ``key_prefix`` after ``expiry_days``."""
    return {
        "ID": rule_id(settings),
        "Filter": {"Prefix": settings.key_prefix},
        "Status": "Enabled",
        "Expiration": {"Days": settings.expiry_days},
    }


def _rule_settings(rule: Rule) -> dict[str, Any]:
    """Return what melange states of a rule, as the bucket has it (either prefix form)."""
    found_filter = rule.get("Filter") or {}
    prefix = found_filter.get("Prefix", rule.get("Prefix"))
    return {
        "key_prefix": prefix,
        "expiry_days": (rule.get("Expiration") or {}).get("Days"),
        "status": rule.get("Status"),
    }


def lifecycle_rules(
    settings: LargePayloads, current: Sequence[Rule] | None
) -> tuple[list[dict[str, Any]] | None, BucketDeclared]:
    """Return the rules to write (``None``: nothing to write) and what that does.

    Args:
        settings: the bucket, prefix and expiry.
        current: the bucket's rules (``None``: it has no lifecycle configuration).
    """
    resource = (
        f"lifecycle rule of bucket {settings.bucket!r}: objects under "
        f"{settings.key_prefix!r} expire after {settings.expiry_days} days"
    )
    wanted = lifecycle_rule(settings)
    others = [dict(r) for r in current or () if r.get("ID") != wanted["ID"]]
    found = next((r for r in current or () if r.get("ID") == wanted["ID"]), None)
    if found is None:
        return [*others, wanted], BucketDeclared(resource, Effect.CREATED)
    stated, had = _rule_settings(wanted), _rule_settings(found)
    changes = tuple(
        Change(name, had[name], value) for name, value in stated.items() if had[name] != value
    )
    if not changes:
        return None, BucketDeclared(resource, Effect.AS_IS)
    return [*others, wanted], BucketDeclared(resource, Effect.CHANGED, changes)


def default_encryption(
    settings: LargePayloads, current: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, BucketDeclared | None]:
    """Return the bucket's default encryption to write (``None``: none) and what that does.

    Nothing is declared when no encryption is configured: the bucket keeps its own
    default (S3 encrypts every new object with S3-managed keys since January 2023).

    Args:
        settings: the encryption and KMS key.
        current: the bucket's ``ApplyServerSideEncryptionByDefault`` (``None``: none).
    """
    if settings.encryption is None:
        return None, None
    key = f", key {settings.kms_key_id!r}" if settings.kms_key_id else ""
    resource = f"default encryption of bucket {settings.bucket!r}: {settings.encryption}{key}"
    wanted: dict[str, Any] = {"SSEAlgorithm": settings.encryption}
    if settings.encryption == "aws:kms" and settings.kms_key_id:
        wanted["KMSMasterKeyID"] = settings.kms_key_id
    configuration = {"Rules": [{"ApplyServerSideEncryptionByDefault": wanted}]}
    if not current:
        return configuration, BucketDeclared(resource, Effect.CREATED)
    stated = {"encryption": settings.encryption, "kms_key_id": wanted.get("KMSMasterKeyID")}
    had = {"encryption": current.get("SSEAlgorithm"), "kms_key_id": current.get("KMSMasterKeyID")}
    changes = tuple(
        Change(name, had[name], value) for name, value in stated.items() if had[name] != value
    )
    if not changes:
        return None, BucketDeclared(resource, Effect.AS_IS)
    return configuration, BucketDeclared(resource, Effect.CHANGED, changes)
