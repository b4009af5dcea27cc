"""mkdocs hooks: pages whose content comes from the code, so it is never copied by hand.

``<!-- settings-table -->`` in a page becomes the table of every ``MELANGE_*`` variable,
generated from ``melange.settings.SETTINGS`` at build time.
"""

from __future__ import annotations

from typing import Any

from melange.settings import SETTINGS

SETTINGS_MARKER = "<!-- settings-table -->"


def settings_table() -> str:
    """Return the Markdown table of every setting melange reads, in the code's order."""
    lines = ["| variable | default | allowed | what it sets |", "|---|---|---|---|"]
    for setting in SETTINGS:
        cells = (f"`{setting.variable}`", setting.default, setting.allowed, setting.meaning)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Put the generated tables where the page marks them."""
    if SETTINGS_MARKER in markdown:
        markdown = markdown.replace(SETTINGS_MARKER, settings_table())
    return markdown
