"""Line breaking that suits Chinese: a line may break between any two CJK characters, not only at spaces.

Rich wraps at whitespace only, so a Chinese sentence with a few Latin words in it ("用 bitsandbytes 以 4 bit
加载……") breaks at those words' spaces and leaves short ragged lines, the long CJK runs pushed whole to the next
line. :class:`Wrapped` (a Rich renderable) and :class:`WrappedStatic` (a widget) break as Chinese typesetting
does: between CJK characters and at spaces, never inside a Latin word, never before a closing mark (，。）) or
after an opening one (（“), and keep the styles of the :class:`~rich.text.Text` they wrap. English text wraps as
before (at spaces).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text
from textual.widgets import Static

#: No line starts with one of these (closing punctuation), and none ends with one of OPENING.
CLOSING = set("，。、；：？！）」』】》〉”’…%,.;:?!)]}")
OPENING = set("（「『【《〈“‘([{")


def is_cjk(ch: str) -> bool:
    """A character that sits in a line on its own: CJK ideographs and punctuation, kana, hangul, full-width forms."""
    o = ord(ch)
    return (0x2E80 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF or 0xFE30 <= o <= 0xFE4F
            or 0xFF00 <= o <= 0xFFEF or 0x20000 <= o <= 0x3FFFF)


def break_points(s: str) -> list[int]:
    """Offsets where a new line may start (after a run of spaces; between two characters when one is CJK)."""
    out = []
    for i in range(1, len(s)):
        before, here = s[i - 1], s[i]
        if here.isspace():
            continue
        if before.isspace():
            out.append(i)
        elif (is_cjk(before) or is_cjk(here)) and here not in CLOSING and before not in OPENING:
            out.append(i)
    return out


def wrap_line(text: Text, width: int) -> list[Text]:
    """One paragraph (no newline) broken into lines of at most ``width`` cells, styles kept."""
    s = text.plain
    if cell_len(s) <= width or width <= 0:
        return [text]
    points = [*break_points(s), len(s)]
    lines: list[Text] = []
    start = end = 0
    for point in points:
        if cell_len(s[start:point].rstrip()) <= width:
            end = point
            continue
        if end == start:  # one unit wider than the line: fold it by characters
            cut = start
            while cut < point and cell_len(s[start:cut + 1]) <= width:
                cut += 1
            end = max(cut, start + 1)
        lines.append(_rstripped(text[start:end]))
        start = end
        while start < len(s) and s[start] == " ":
            start += 1
        end = start
        while cell_len(s[start:point].rstrip()) > width:  # the rest of a long unit
            cut = start
            while cut < point and cell_len(s[start:cut + 1]) <= width:
                cut += 1
            cut = max(cut, start + 1)
            lines.append(text[start:cut])
            start = end = cut
        end = point
    if start < len(s):
        lines.append(_rstripped(text[start:]))
    return lines


def _rstripped(text: Text) -> Text:
    text.rstrip()  # in place, on the slice
    return text


def wrap_text(text: Text, width: int) -> list[Text]:
    """``text`` broken into lines of at most ``width`` cells (each newline starts a line)."""
    out: list[Text] = []
    for paragraph in text.split("\n", allow_blank=True):
        out.extend(wrap_line(paragraph, width))
    return out


class Wrapped:
    """A Rich renderable: ``text`` wrapped with :func:`wrap_text` at the width it is drawn in."""

    def __init__(self, text: Text):
        self.text = text

    @property
    def plain(self) -> str:
        return self.text.plain

    def __str__(self) -> str:
        return self.text.plain

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = wrap_text(self.text, options.max_width)
        out = Text("\n").join(lines)
        out.no_wrap = True
        out.overflow = "crop"
        yield out

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max((cell_len(line) for line in self.text.plain.split("\n")), default=0)
        return Measurement(1, min(widest, options.max_width))


class WrappedStatic(Static):
    """A :class:`~textual.widgets.Static` whose text wraps with :func:`wrap_text` (``str(widget.render())`` is its
    plain text, as for a plain Static)."""

    def __init__(self, content: str | Text = "", **kwargs):
        super().__init__("", **kwargs)
        self._text = Text(content) if isinstance(content, str) else content

    def update(self, content: str | Text = "", *, layout: bool = True) -> None:  # type: ignore[override]
        self._text = Text(content) if isinstance(content, str) else content
        super().update(self._text, layout=layout)

    def render(self) -> Wrapped:
        return Wrapped(self._text)
