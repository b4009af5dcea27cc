"""The Large messages page: its programs print what it shows, on a server too, and it is complete.

The in-memory programs run as a reader runs them (``python docs/snippets/...``); the
``declare`` output the page shows comes from ``python -m melange declare`` on moto.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest

from melange.settings import SETTINGS
from tests.support.doc_snippets import ROOT, clean_environment, run_snippet, shown_output
from tests.support.servers import MotoServer

PAGE = (ROOT / "docs" / "large-messages.md").read_text(encoding="utf-8")
#: The page's bucket: deleted before the declare test, so that it starts from nothing.
BUCKET = "shop-payloads"


@pytest.mark.parametrize(
    "snippet",
    ["large-messages/round_trip.py", "large-messages/fan_out.py", "large-messages/bad_input.py"],
)
def test_the_programs_print_what_the_page_shows(snippet: str) -> None:
    """Each in-memory program prints exactly its .out file, which the page includes."""
    assert run_snippet(snippet) == shown_output(snippet.removesuffix(".py") + ".out")


def test_the_page_lists_every_large_payload_setting() -> None:
    """The settings table has every MELANGE_LARGE_PAYLOAD_* variable melange reads."""
    variables = [s.variable for s in SETTINGS if s.variable.startswith("MELANGE_LARGE_PAYLOAD_")]

    assert len(variables) == 7
    assert [v for v in variables if f"| `{v}` |" not in PAGE] == []


def test_the_page_keeps_a_section_for_the_interoperability_table() -> None:
    """The table of who wrote, who read, which route and which attribute has its place."""
    section = PAGE.split("## Interoperability with AWS's extended clients", 1)[1]

    assert re.search(r"^\| written by \| read by \| route \| size attribute \|", section, re.M)


@pytest.fixture(name="fresh_bucket")
def fixture_fresh_bucket(moto_server: MotoServer) -> Iterator[str]:
    """Give the page's bucket name on moto, with no bucket of that name there yet."""
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="melange-local",
        aws_secret_access_key="melange-local",
        config=boto3.session.Config(s3={"addressing_style": "path"}),
    )

    def remove() -> None:
        if BUCKET in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
            for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
                s3.delete_object(Bucket=BUCKET, Key=item["Key"])
            s3.delete_bucket(Bucket=BUCKET)

    remove()
    yield BUCKET
    remove()
    s3.close()


@pytest.mark.integration
def test_declare_prints_the_bucket_lines_the_page_shows_then_as_is(
    moto_server: MotoServer, unique: str, fresh_bucket: str
) -> None:
    """`python -m melange declare` on moto: the page's lines, then each of them as is."""
    settings = {
        "MELANGE_ENV": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_PREFIX": f"{unique}-",
        "MELANGE_DEDUP": "memory",
        "MELANGE_LARGE_PAYLOAD_BUCKET": fresh_bucket,
        "MELANGE_LARGE_PAYLOAD_ENCRYPTION": "AES256",
    }

    def declare() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "melange", "declare", "examples.orders:graph"],
            cwd=ROOT,
            env=clean_environment(settings),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return [line for line in done.stdout.splitlines() if "bucket" in line]

    shown = shown_output("large-messages/declare.out").splitlines()
    assert declare() == shown
    assert declare() == [line.replace("created ", "as is   ", 1) for line in shown]
