"""mkdocs hooks: pages whose content comes from the code, so it is never copied by hand.

``<!-- settings-table -->`` in a page becomes the table of every ``MELANGE_*`` variable,
generated from ``melange.settings.SETTINGS`` at build time.
"""

from __future__ import annotations

import html
from typing import Any

from melange.settings import SETTINGS

SETTINGS_MARKER = "<!-- settings-table -->"


def settings_table() -> str:
    """Return the Markdown table of every setting melange reads, in the code's order.

    Two columns, so that the table fits a phone's width: the variable, and what it sets
    with what it allows and its default. A variable's name breaks only after an underscore,
    at every width (Material breaks code at any letter where columns are narrow); the
    text is escaped, as some of it holds placeholders such as ``config/<name>.env`` that
    would otherwise be read as HTML tags.
    """
    lines = ["| variable | what it sets |", "|---|---|"]
    for setting in SETTINGS:
        breakable = setting.variable.replace("_", "_<wbr>")
        variable = f'<code style="word-break: keep-all">{breakable}</code>'
        meaning, allowed, default = (
            html.escape(text, quote=False).replace("|", "\\|")
            for text in (setting.meaning, setting.allowed, setting.default)
        )
        lines.append(f"| {variable} | {meaning}<br>allowed: {allowed}; default: {default} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Put the generated tables where the page marks them."""
    if SETTINGS_MARKER in markdown:
        markdown = markdown.replace(SETTINGS_MARKER, settings_table())
    return markdown
