"""Command palette provider: the current screen's main actions (and, on the setup screen, every section and
field to jump to). A screen offers commands through ``palette_commands() -> [(name, help, callback)]``, in the
app's language; a fourth item ``False`` keeps an entry out of the list shown before the user types (the setup
screen's ~50 field jumps), so it appears only when searched."""

from __future__ import annotations

from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ScreenCommands(Provider):
    """Lists ``screen.palette_commands()`` plus the app's own commands."""

    def _commands(self) -> list[tuple[str, str, Any, bool]]:
        out: list[tuple[str, str, Any, bool]] = []
        for owner in (self.screen, self.app):
            commands = getattr(owner, "palette_commands", None)
            if callable(commands):
                for entry in commands():
                    name, help_text, callback, *rest = entry
                    out.append((name, help_text, callback, bool(rest[0]) if rest else True))
        return out

    async def discover(self) -> Hits:
        for name, help_text, callback, discoverable in self._commands():
            if discoverable:
                yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback, _ in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
