"""Command palette provider: the current screen's main actions (and, on the setup screen, every section and
field to jump to). A screen offers commands through ``palette_commands() -> [(name, help, callback)]``."""

from __future__ import annotations

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ScreenCommands(Provider):
    """Lists ``screen.palette_commands()`` plus the app's own commands."""

    def _commands(self) -> list[tuple[str, str, object]]:
        out: list[tuple[str, str, object]] = []
        screen_cmds = getattr(self.screen, "palette_commands", None)
        if callable(screen_cmds):
            out.extend(screen_cmds())
        app_cmds = getattr(self.app, "palette_commands", None)
        if callable(app_cmds):
            out.extend(app_cmds())
        return out

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            if name.startswith("Field: "):
                continue  # 50 fields would drown the main actions; they show up when searched
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
