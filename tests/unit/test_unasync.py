"""The threaded consume core is exactly what scripts/unasync.py writes from the asyncio one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import unasync  # noqa: E402


def test_the_threaded_twins_are_up_to_date() -> None:
    """`scripts/unasync.py --check` finds every file of melange/consuming/_sync as generated."""
    done = subprocess.run(
        [sys.executable, "scripts/unasync.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_awaits_and_asyncio_names_become_their_threaded_twins() -> None:
    """`await`, `async def` and AsyncName turn into a blocking call, a def and Name."""
    source = (
        '"""A module.\n\n' + unasync.SOURCE_NOTE + '"""\n\n'
        "from melange.consuming.aio_concurrency import AsyncEvent\n\n\n"
        "async def wait(event: AsyncEvent) -> bool:\n"
        '    """Wait."""\n'
        "    return await event.wait(1.0)\n"
    )
    twin = unasync.unasync(source, ROOT / "melange/consuming/_sync/example.py")
    assert "def wait(event: Event) -> bool:" in twin
    assert "return event.wait(1.0)" in twin
    assert "from melange.consuming.concurrency import Event" in twin
    assert unasync.TWIN_NOTE in twin
    assert "async" not in twin.replace(unasync.TWIN_NOTE, "")
