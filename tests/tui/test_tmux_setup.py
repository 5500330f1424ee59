"""Drive the installed `ft-tui` in a real terminal (tmux): it starts to the four sections and a GiB estimate,
takes keystrokes, quits on ctrl+q (how long the start takes is measured by bench/startup.py). Uses a private tmux server on a socket in the test's tmp folder (-S), so it never touches a
user's sessions and leaves nothing behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
FT_TUI = Path(sys.executable).parent / "ft-tui"
SECTIONS = ("Model & Method", "Dataset", "Training", "LoRA")
#: How long the setup screen may take to appear before the test calls it stuck. The start-up time itself is a
#: figure of bench/startup.py (a timed assert here failed on a loaded or slow box, not on a regression).
READY_TIMEOUT_S = 30.0


pytestmark = [pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
              pytest.mark.skipif(not FT_TUI.exists(), reason="the ft-tui console script is not installed")]


class Tmux:
    def __init__(self, socket: Path):
        self.socket = str(socket)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        # COLUMNS / LINES (set by some runners) would override the pane's real size in the app
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        return subprocess.run([TMUX, "-S", self.socket, "-f", "/dev/null", *args], capture_output=True,
                              text=True, check=check, timeout=10, env=env)

    def screen(self, target: str) -> str:
        return self("capture-pane", "-p", "-t", target, check=False).stdout

    def wait_for(self, target: str, predicate, timeout: float) -> tuple[bool, float, str]:
        t0 = time.monotonic()
        text = ""
        while time.monotonic() - t0 < timeout:
            text = self.screen(target)
            if predicate(text):
                return True, time.monotonic() - t0, text
            time.sleep(0.05)
        return False, time.monotonic() - t0, text


@pytest.fixture
def tmux(tmp_path_factory):
    socket = tmp_path_factory.mktemp("tmux") / "sock"
    t = Tmux(socket)
    yield t
    t("kill-server", check=False)
    socket.unlink(missing_ok=True)


def test_ft_tui_starts_takes_keys_and_quits_in_tmux(tmux, catalog_config, isolated_tui_env):
    env_args = []
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "HF_HUB_OFFLINE", "LANG"):
        env_args += ["-e", f"{var}={os.environ[var]}"]
    cmd = f"{FT_TUI} --gpu rtx4090 {catalog_config}"
    tmux("new-session", "-d", "-s", "ft", "-x", "120", "-y", "40", *env_args, cmd)

    def ready(text: str) -> bool:
        return all(s in text for s in SECTIONS) and "GiB" in text and "peak" in text

    ok, _, text = tmux.wait_for("ft", ready, timeout=READY_TIMEOUT_S)
    assert ok, f"the setup screen did not show the sections and an estimate:\n{text}"
    assert "Qwen/Qwen2.5-7B-Instruct" in text

    # Keyboard only: the model field has the focus at start; alt+right three times reaches the LoRA section,
    # whose first field (lora_rank) takes the focus; then type a new value.
    for _ in range(3):
        tmux("send-keys", "-t", "ft", "M-Right")
        time.sleep(0.2)
    ok, _, text = tmux.wait_for("ft", lambda t: "(lora_rank)" in t, timeout=5)  # the help follows the focus
    assert ok, text
    # ctrl+u clears the field (a bound key): wait for it before typing, as a bound key and the characters
    # behind it in one burst may be handled out of order
    tmux("send-keys", "-t", "ft", "C-u")
    ok, _, text = tmux.wait_for("ft", lambda t: "must be a whole number" in t, timeout=5)  # inline validation
    assert ok, text
    assert "Start disabled" in text
    tmux("send-keys", "-t", "ft", "6", "4")
    ok, _, text = tmux.wait_for("ft", lambda t: re.search(r"● LoRA rank +64 ", t) is not None, timeout=5)
    assert ok, f"the typed value was not taken:\n{text}"
    # the user's 64 is kept, the plan's own value shown once the re-plan after the typing has run
    ok, _, text = tmux.wait_for("ft", lambda t: re.search(r"planner would pick (8|16)\b", t) is not None, timeout=5)
    assert ok and re.search(r"● LoRA rank +64 ", text), text

    tmux("send-keys", "-t", "ft", "C-q")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and tmux("has-session", "-t", "ft", check=False).returncode == 0:
        time.sleep(0.1)
    assert tmux("has-session", "-t", "ft", check=False).returncode != 0, "ctrl+q did not quit"
