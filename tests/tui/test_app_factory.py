"""The app factory and entry points: CLI errors, keymap remapping, NO_COLOR, the demo config, the palette."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from ft_tui.planner.errors import InputError
from ft_tui.tui import keymap as K
from ft_tui.tui.app import FtTuiApp, make_app, run_from_cli
from ft_tui.tui.help import default_language, help_for, load_help_file, missing_help


def test_bad_input_fails_before_the_app_starts(tmp_path, catalog_config):
    with pytest.raises(InputError, match="unknown GPU 'rtx9999'"):
        make_app(catalog_config, gpu="rtx9999")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lora_rnak: 8\n", encoding="utf-8")
    with pytest.raises(InputError, match="did you mean 'lora_rank'"):
        run_from_cli(argparse.Namespace(config=str(bad), gpu="rtx4090", gpus=None, lang="en"))


def test_keymap_file_is_validated(isolated_tui_env):
    path = K.keymap_path()
    assert str(path).startswith(str(isolated_tui_env))
    assert K.load_keymap() == {}
    path.parent.mkdir(parents=True)
    path.write_text("setup.start: f9\napp.quit: ctrl+q, ctrl+x\nrun.stop: ctrl+k\n", encoding="utf-8")
    assert K.load_keymap() == {"setup.start": "f9", "app.quit": "ctrl+q,ctrl+x", "run.stop": "ctrl+k"}
    path.write_text("setup.strat: f9\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown binding id 'setup.strat'"):
        K.load_keymap()
    path.write_text("setup.start: f9\nrun.stop: ctrl+k\nsetup.start: f10\n", encoding="utf-8")
    with pytest.raises(InputError, match="key 'setup.start' appears twice") as exc:  # not f10 winning silently
        K.load_keymap()
    assert exc.value.line == 3 and exc.value.file == str(path)
    path.write_text("setup.start: [f9\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        K.load_keymap()
    assert exc.value.file == str(path) and exc.value.line is not None


class RecordingRunner:
    def __init__(self, run_dir: Path):
        self.run_dir, self.calls = run_dir, []

    def launch(self, config, plan, hardware) -> Path:
        self.calls.append(config)
        return self.run_dir


async def test_a_remapped_key_starts_the_run(catalog_config, settle, recorded_run):
    K.keymap_path().parent.mkdir(parents=True, exist_ok=True)
    K.keymap_path().write_text("setup.start: f9\n", encoding="utf-8")
    runner = RecordingRunner(recorded_run)
    app = make_app(catalog_config, gpu="rtx4090", lang="en", runner=runner)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")  # the default key no longer starts
        await pilot.pause()
        assert runner.calls == []
        await pilot.press("f9")
        await pilot.pause()
        assert len(runner.calls) == 1


def test_every_binding_has_an_id_and_a_description():
    from ft_tui.tui.screens.dialogs import ConfirmDialog, PathDialog
    from ft_tui.tui.screens.setup import SetupScreen

    for owner in (SetupScreen, FtTuiApp, ConfirmDialog, PathDialog):
        ids = [b.id for b in owner.BINDINGS]
        assert None not in ids and len(ids) == len(set(ids)), owner
        assert set(ids) <= set(K.DEFAULT_KEYS), owner
        assert all(b.description for b in owner.BINDINGS), owner
        assert all(b.key == K.keys_for(b.id) for b in owner.BINDINGS), owner


async def test_no_color_is_honoured(catalog_config, monkeypatch, settle):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.no_color
        assert any(type(f).__name__ in ("Monochrome", "NoColor") for f in app._filters)


async def test_command_palette_offers_the_main_actions(catalog_config, settle):
    from ft_tui.tui.commands import ScreenCommands

    app = make_app(catalog_config, gpu="rtx4090", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        provider = ScreenCommands(app.screen)
        names = [hit.display async for hit in provider.discover()]
        assert {"Start training", "Re-plan", "Save config", "Load config", "Runs"} <= {str(n) for n in names}
        hits = [hit async for hit in provider.search("lora_dropout")]
        assert hits
        hits[0].command()
        await settle(pilot)
        assert app.focused is not None and app.focused.id == "field-lora_dropout"


def test_help_language_default_and_fallback():
    assert default_language({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert default_language({"LANG": "en_US.UTF-8", "LC_ALL": "zh_TW.UTF-8"}) == "zh"
    assert default_language({}) == "en"
    generated = help_for("memory_margin", "zh") if "memory_margin" not in load_help_file() else None
    if generated is not None:
        assert generated.generated and "memory_margin" in generated.what
    written = [k for k in load_help_file() if "zh" in load_help_file()[k]]
    if written:
        entry = help_for(written[0], "zh")
        assert not entry.generated and entry.lang == "zh" and entry.what
    assert set(missing_help()) == {"en", "zh"}
