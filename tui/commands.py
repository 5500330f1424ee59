"""Command palette provider: the current screen's main actions (and, on the setup screen, every section and
field to jump to). A screen offers commands through ``palette_commands() -> [(name, help, callback)]``, in the
app's language; a fourth item ``False`` keeps an entry out of the list shown before the user types (the setup
screen's ~50 field jumps), so it appears only when searched; a fifth is more names the search matches, each on its
own (a field's names in both languages and its config key), so 学习率 finds learning_rate in either language.

Textual's fuzzy matcher (``textual.fuzzy``) compares characters, so Chinese works as it is: a query inside a name
(截断 in 截断长度) scores as a substring, the characters of a query in order (截长) as a fuzzy match, and a query
that is a whole name (学习率) scores highest, so learning_rate comes before 学习率调度器 (lr_scheduler_type).

The palette itself (:class:`Palette`) speaks the app's language too: its placeholder and "No matches found"."""

from __future__ import annotations

from typing import Any

from textual.command import CommandList, CommandPalette, DiscoveryHit, Hit, Hits, Provider


class ScreenCommands(Provider):
    """Lists ``screen.palette_commands()`` plus the app's own commands."""

    def _commands(self) -> list[tuple[str, str, Any, bool, tuple[str, ...]]]:
        out: list[tuple[str, str, Any, bool, tuple[str, ...]]] = []
        for owner in (self.screen, self.app):
            commands = getattr(owner, "palette_commands", None)
            if callable(commands):
                for entry in commands():
                    name, help_text, callback, *rest = entry
                    also = rest[1] if len(rest) > 1 else ()
                    out.append((name, help_text, callback, bool(rest[0]) if rest else True,
                                (also,) if isinstance(also, str) else tuple(str(a) for a in also)))
        return out

    async def discover(self) -> Hits:
        for name, help_text, callback, discoverable, _ in self._commands():
            if discoverable:
                yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query.strip())
        for name, help_text, callback, _, also in self._commands():
            shown = matcher.match(name)
            score = max([shown, *(matcher.match(a) for a in also if a)])
            if score > 0:
                # the entry's own name highlighted where the query is in it, else as it is (found by another name)
                yield Hit(score, matcher.highlight(name) if shown > 0 else name, callback, help=help_text)


class Palette(CommandPalette):
    """Textual's command palette with its own words (the placeholder, "No matches found") in the app's language.

    Textual 8.2 hard-codes "No matches found" inside ``_start_no_matches_countdown``; this override is that method
    with the text taken from ``tui/i18n.py``."""

    def __init__(self, lang: str, **kwargs: Any):
        from ft_tui.tui.i18n import label

        super().__init__(placeholder=label(lang, "palette_placeholder"), **kwargs)
        self.lang = lang

    def _start_no_matches_countdown(self, search_value: str) -> None:
        from ft_tui.tui.i18n import label
        from rich.align import Align
        from rich.text import Text
        from textual.widgets.option_list import Option

        self._stop_no_matches_countdown()

        def _show_no_matches() -> None:
            if search_value:
                self.query_one(CommandList).add_option(
                    Option(Align.center(Text(label(self.lang, "palette_no_matches"), style="not bold")),
                           disabled=True, id=self._NO_MATCHES))
                self._list_visible = True
            else:
                self._list_visible = False

        self._no_matches_timer = self.set_timer(self._NO_MATCHES_COUNTDOWN, _show_no_matches)
