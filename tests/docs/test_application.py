"""The Application page's code and command transcripts run as shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.doc_snippets import ROOT, SNIPPETS, clean_environment, run_snippet, shown_output


def test_subscriptions_become_the_declared_topology_and_declare_says_what_changed() -> None:
    """Two consumers share 'shipping'; a second declare finds all as is but the changed queue."""
    output = run_snippet("application/topology.py")

    assert output == shown_output("application/topology.out")
    assert "shipping: 2 consumers, 4 workers" in output
    assert "changed  queue 'shipping' (visibility_timeout 30 -> 60; max_receive_count 5 -> 3)" in (
        output
    )


def test_a_wrong_subscription_is_refused_naming_the_class_or_both_consumers() -> None:
    """A filter policy without topics names its class; consumers disagreeing on a DLQ conflict."""
    output = run_snippet("application/mistakes.py")

    assert output == shown_output("application/mistakes.out")
    assert output.startswith("DeclarationError: consumer class 'ShippingConsumer': ")


def test_a_policy_sns_refuses_fails_at_the_class_and_a_typo_is_a_warning() -> None:
    """The issue's nested list is refused naming the class; the 'teir' typo suggests 'tier'."""
    output = run_snippet("application/filter_policies.py")

    assert output == shown_output("application/filter_policies.out")
    assert output.startswith("DeclarationError: consumer class 'VipDesk': filter_policy['tier'][0]")
    assert "did you mean 'tier'?" in output


def transcript(path: Path) -> list[tuple[str, list[str]]]:
    """Return each ``$ command`` of a console transcript with the lines shown after it."""
    steps: list[tuple[str, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def test_the_exit_codes_transcript_is_what_the_commands_print_and_return() -> None:
    """Each command prints what the page shows, and `echo $?` shows its real exit code."""
    environment = clean_environment()
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    code = None
    for command, shown in transcript(SNIPPETS / "application" / "exit_codes.console"):
        if command == "echo $?":
            assert shown == [str(code)], f"exit code of the command before {shown}"
            continue
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        code = done.returncode
        assert done.stdout.splitlines() == shown, command
