"""Printing to an operator's terminal: data as text, never as markup.

What the ``oms`` commands print comes largely from customers (product ids,
names, reasons, error messages).  Rich would read ``[/]`` in it as markup and
crash, ``[link=…]…[/link]`` as a live link, ``:smile:`` as an emoji: every
console here prints strings exactly as they are.  Emphasis is a ``style``
given beside the text (``console.print(text, style="red")``, ``Text(text,
style=...)``), never spelled inside it.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console


def text_console(**options: Any) -> Console:
    """A console that prints strings as text: no markup, no emoji codes, no highlighting."""
    return Console(markup=False, emoji=False, highlight=False, **options)
