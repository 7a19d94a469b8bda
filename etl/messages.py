"""Console lines that show user text as it is: names, paths, dump text, failing values.

Rich reads `[...]` in a printed string as markup (an abstract's `[/INST]` raised MarkupError
after the tables were written; a dump named `[draft] x.txt` lost `[draft]`), and
`rich.markup.escape` cannot protect text ending in a backslash. So user text is never put
into markup: it goes into a `Text`, or is printed with `markup=False`, on consoles made with
`emoji=False` (else `a:b:c` would show an emoji).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def labelled(console: Console, label: str, style: str, message: str) -> Text:
    """`label message`, the label in `style` and the message as it is, highlighted as
    `console.print(f"[{style}]{label}[/] {message}")` would."""
    text = console.highlighter(f"{label} {message}")
    text.stylize(style, 0, len(label))
    return text
