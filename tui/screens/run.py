"""The live run screen: a reader of the run directory (toolong-style), never the owner of the training process.

A thread worker tails ``events.jsonl`` and ``train.log`` every half second through
:class:`ft_tui.runner.tail.RunTail` (state.json and the process check run there too, every two seconds) and
posts :class:`RunUpdated` messages that carry a whole immutable view, so a newer one replaces any still queued.
Redraws are throttled to two per second. A second worker samples the GPUs once a second; with no GPU the panel
stays hidden and the sampler stops. Attaching after the TUI or the SSH session was gone shows the whole history
(the file is read from its start), then the live tail.

Keys: stop (confirmed; SIGTERM through the same function ``ft-tui stop`` uses, so the trainer saves a checkpoint
and ends ``stopped``), resume (an interrupted, stopped or failed run, in place: the tail shows the new attempt),
detach (leave the run going), smoothing of the loss chart, quit. Keys that do not apply are hidden.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ft_tui.planner.messages import render
from ft_tui.runner import control
from ft_tui.runner.events import RunModel, RunView
from ft_tui.runner.rundir import RunDir
from ft_tui.runner.status import LIVE_STATUSES, RESUMABLE, STARTING
from ft_tui.runner.tail import RunTail
from ft_tui.tui import keymap as K
from ft_tui.tui.i18n import binding_help, label, worker_name
from ft_tui.tui.widgets.run_chart import LossChart
from ft_tui.tui.widgets.run_gpu import GpuPanel
from ft_tui.tui.widgets.run_log import RunEvents, RunLog
from ft_tui.tui.widgets.run_progress import RunProgress
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState, get_current_worker

#: Binding ids of this screen (for the user's keymap) -> (default keys, what it does).
RUN_KEYS: dict[str, tuple[str, str]] = {
    "run.stop": ("s", "stop the run gracefully (it saves a checkpoint first); asks to confirm"),
    "run.resume": ("r", "resume an interrupted, stopped or failed run from its last complete checkpoint"),
    "run.detach": ("d,escape", "leave the run going and go back (or exit when this is the only screen)"),
    "run.back": ("escape", "go back (or exit when this is the only screen); shown instead of Detach when the run is not live"),
    "run.smooth": ("m", "toggle smoothing of the loss chart"),
    "run.quit": ("q", "quit ft-tui; the run keeps going"),
}

TAIL_INTERVAL_S = 0.5
GPU_INTERVAL_S = 1.0
REDRAW_INTERVAL_S = 0.5

Stopper = Callable[[RunDir], "int | None"]
Resumer = Callable[[RunDir], "control.Resumed | None"]
GpuSampler = Callable[[], Sequence[Mapping[str, Any]]]


class RunUpdated(Message):
    """The tail worker's latest view of the run (replaces an older one still queued)."""

    def __init__(self, view: RunView | None, status: str | None) -> None:
        super().__init__()
        self.view = view
        self.status = status

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunUpdated) and (message.view is not None or self.view is None) \
            and (message.status is not None or self.status is None)


class LogLines(Message):
    """New complete lines of train.log (never replaced: each batch is new text)."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__()
        self.lines = list(lines)


class GpuSampled(Message):
    """The latest GPU sample (replaces an older one still queued)."""

    def __init__(self, stats: Sequence[Mapping[str, Any]]) -> None:
        super().__init__()
        self.stats = list(stats)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, GpuSampled)


def default_sampler() -> Sequence[Mapping[str, Any]]:
    from ft_tui.planner.gpu_probe import sample_gpu_stats

    return sample_gpu_stats()


def _binding(binding_id: str, action: str, description: str, **kw: Any) -> Binding:
    """A binding with a stable id; its default keys come from the app's key table when it lists the id."""
    from ft_tui.tui import keymap

    keys = keymap.DEFAULT_KEYS.get(binding_id, RUN_KEYS[binding_id])[0]
    return Binding(keys, action, description, id=binding_id, **kw)


class RunScreen(Screen):
    """Watch one run directory. Works pushed over the setup or runs screen, and as the app's only screen."""

    DEFAULT_CSS = """
    RunScreen { layout: vertical; }
    RunScreen #run-middle { height: 3fr; min-height: 6; }
    RunScreen RunLog { height: 2fr; min-height: 4; }
    RunScreen.-compact RunEvents { height: 4; }
    RunScreen.-compact GpuPanel { width: 36; }
    RunScreen.-compact #run-middle { min-height: 5; }
    """

    BINDINGS = [
        _binding("run.stop", "stop", "Stop"),
        _binding("run.resume", "resume", "Resume"),
        _binding("run.detach", "detach", "Detach"),
        _binding("run.back", "back", "Back"),  # instead of Detach once the run has ended: nothing to detach from
        _binding("run.smooth", "toggle_smoothing", "Smooth"),
        _binding("run.quit", "quit_app", "Quit", show=False),  # the app's own ctrl+q Quit is in the footer
    ]

    def __init__(self, run_dir: Path | str, *, stopper: Stopper | None = None, resumer: Resumer | None = None,
                 sampler: GpuSampler | None = None, clock: Callable[[], float] | None = None,
                 tail_interval: float = TAIL_INTERVAL_S, name: str | None = None, id: str | None = None):
        """``stopper`` signals the run and ``resumer`` restarts it (tests: fakes), ``sampler`` returns GPU stats
        (default NVML), ``clock`` gives "now" for the ETA (tests freeze it)."""
        super().__init__(name=name, id=id)
        self.run = RunDir(Path(run_dir))
        self.stopper: Stopper = stopper or control.signal_run  # SIGTERM, exactly as `ft-tui stop` sends it
        self.resumer: Resumer = resumer or control.resume  # the checks and the spawn of `ft-tui resume`
        self.resuming = False
        self.sampler: GpuSampler = sampler or default_sampler
        self.clock = clock or time.time
        self.tail_interval = tail_interval
        self.view: RunView = RunModel().snapshot()
        self.status: str = "unknown"
        self.stopping = False
        self.gpu_stats: list[Mapping[str, Any]] = []
        self._dirty = False
        self._quit = threading.Event()

    # -- layout ------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield RunProgress(id="run-progress")
        with Horizontal(id="run-middle"):
            yield LossChart(id="run-chart")
            yield GpuPanel(id="run-gpus")
        yield RunEvents(id="run-events")
        yield RunLog(id="run-log")
        yield Footer()

    @property
    def lang(self) -> str:
        lang = getattr(self.app, "lang", "en")
        return lang if lang in ("en", "zh") else "en"

    def on_mount(self) -> None:
        self.sub_title = self.run.id
        K.localize_bindings(self, self.lang)
        if hasattr(self.app, "lang"):
            self.watch(self.app, "lang", self._language_changed, init=False)
        self.query_one(LossChart).lang = self.lang
        self._redraw()
        self.set_interval(REDRAW_INTERVAL_S, self._tick)
        self._tail()
        self._sample_gpus()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 100 or self.size.height < 30, "-compact")
        self._dirty = True

    def on_unmount(self) -> None:
        self._quit.set()

    def _language_changed(self, _lang: str) -> None:
        K.localize_bindings(self, self.lang)
        self.query_one(LossChart).lang = self.lang
        self._redraw()
        self.query_one(GpuPanel).show_stats(self.gpu_stats, self.lang)

    # -- workers -----------------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="run-tail", exit_on_error=False, name="tail run directory")
    def _tail(self) -> None:
        worker = get_current_worker()
        tail = RunTail(self.run.path)
        while not worker.is_cancelled and not self._quit.is_set():
            update = tail.poll(time.monotonic())  # scheduling only; the display clock is self.clock
            if update.view is not None or update.status is not None:
                self.post_message(RunUpdated(update.view, update.status))
            if update.log_lines:
                self.post_message(LogLines(update.log_lines))
            self._quit.wait(self.tail_interval)

    @work(thread=True, exclusive=True, group="run-gpu", exit_on_error=False, name="sample GPUs")
    def _sample_gpus(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled and not self._quit.is_set():
            stats = list(self.sampler())
            self.post_message(GpuSampled(stats))
            if not stats:
                return  # no GPU (no NVML): the panel stays hidden for the life of this screen
            self._quit.wait(GPU_INTERVAL_S)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(label(self.lang, "worker_failed", name=worker_name(self.lang, event.worker.name),
                              error=render(event.worker.error, self.lang)),
                        severity="error", markup=False)

    # -- messages ----------------------------------------------------------------------------------------------
    @on(RunUpdated)
    def _run_updated(self, message: RunUpdated) -> None:
        first = self.view.events_seen == 0 and message.view is not None
        if message.view is not None:
            self.view = message.view
        if message.status is not None:
            if message.status != self.status:
                self.refresh_bindings()
            self.status = message.status
            if self.status not in LIVE_STATUSES:
                self.stopping = False
        self._dirty = True
        if first:
            self._redraw()  # the history shows at once; later updates wait for the throttle

    @on(LogLines)
    def _log_lines(self, message: LogLines) -> None:
        self.query_one(RunLog).write_lines(message.lines)

    @on(GpuSampled)
    def _gpu_sampled(self, message: GpuSampled) -> None:
        self.gpu_stats = message.stats
        self.query_one(GpuPanel).show_stats(message.stats, self.lang)

    def _tick(self) -> None:
        if self._dirty or self.status in LIVE_STATUSES:  # a live run's ETA counts down between events
            self._redraw()

    def _redraw(self) -> None:
        self._dirty = False
        lang = self.lang
        self.query_one(RunProgress).show(self.view, self.status, run_id=self.run.id, lang=lang, now=self.clock(),
                                         stopping=self.stopping)
        self.query_one(LossChart).set_series(self.view.train_loss, self.view.eval_loss)
        self.query_one(RunEvents).show(self.view, lang)

    # -- actions -----------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.status in LIVE_STATUSES and not self.stopping
        if action == "resume":
            return self.status in RESUMABLE and not self.resuming
        if action == "detach":  # a live run is left going; an ended one (or one not read yet) is just left: Back
            return self.status in LIVE_STATUSES
        if action == "back":
            return self.status not in LIVE_STATUSES
        return True

    def action_resume(self) -> None:
        if not self.check_action("resume", ()):
            return
        self.resuming = True
        self.refresh_bindings()
        self._resume()

    @work(thread=True, exclusive=True, group="run-resume", exit_on_error=False, name="resume run")
    def _resume(self) -> None:
        from ft_tui.planner.errors import InputError

        try:
            resumed = self.resumer(self.run)
        except (InputError, OSError) as exc:
            text = exc.render(self.lang) if isinstance(exc, InputError) else str(exc)
            self.app.call_from_thread(self._resumed, label(self.lang, "resume_failed", id=self.run.id, error=text),
                                      "error")
            return
        self.app.call_from_thread(self._resumed, label(self.lang, "resumed", id=self.run.id), "information",
                                  resumed.warnings if resumed is not None else ())

    def _resumed(self, text: str, severity: str, warnings: Sequence[Any] = ()) -> None:
        self.resuming = False
        if severity != "error":
            self.status = STARTING  # until the tail's next status check says more
            self._dirty = True
        self.refresh_bindings()
        self.notify(text, severity=severity, markup=False)  # type: ignore[arg-type]
        for warning in warnings:  # the runner's: no complete checkpoint, fewer GPUs than at launch
            self.notify(render(warning, self.lang), severity="warning", markup=False, timeout=10)

    def action_stop(self) -> None:
        from ft_tui.tui.screens.dialogs import ConfirmDialog

        dialog = ConfirmDialog(label(self.lang, "confirm_stop_title"),
                               label(self.lang, "confirm_stop_body", id=self.run.id),
                               yes=label(self.lang, "key_run.stop"), no=label(self.lang, "key_dialog.cancel"),
                               danger=True)
        self.app.push_screen(dialog, self._confirmed_stop)

    def _confirmed_stop(self, confirmed: bool | None) -> None:
        if confirmed:
            self.stopping = True
            self.refresh_bindings()
            self._redraw()
            self._send_stop()

    @work(thread=True, exclusive=True, group="run-stop", exit_on_error=False, name="stop run")
    def _send_stop(self) -> None:
        pid = self.stopper(self.run)
        if pid is None:
            status = self.run.status()
            self.app.call_from_thread(self._stop_failed, status)
        else:
            self.app.call_from_thread(self.notify, label(self.lang, "stop_sent", pid=pid), markup=False)

    def _stop_failed(self, status: str) -> None:
        self.stopping = False
        self.status = status
        self.refresh_bindings()
        self._redraw()
        self.notify(label(self.lang, "stop_gone", status=status), severity="warning", markup=False)

    def action_detach(self) -> None:
        if self.status in LIVE_STATUSES:
            self.app.notify(label(self.lang, "detached", id=self.run.id), markup=False)
        self.action_back()

    def action_back(self) -> None:
        self._quit.set()
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()

    def action_toggle_smoothing(self) -> None:
        chart = self.query_one(LossChart)
        chart.smoothing = not chart.smoothing

    def action_quit_app(self) -> None:
        self._quit.set()
        self.app.exit()

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """Entries for the app's command palette (``ft_tui.tui.commands.ScreenCommands``)."""
        lang = self.lang

        def entry(name: str, binding_id: str, action: Callable[[], Any]) -> tuple[str, str, Any]:
            return label(lang, f"cmd_{name}"), binding_help(lang, binding_id, RUN_KEYS[binding_id][1]), action

        out: list[tuple[str, str, Any]] = []
        if self.check_action("stop", ()):
            out.append(entry("stop", "run.stop", self.action_stop))
        if self.check_action("resume", ()):
            out.append(entry("resume", "run.resume", self.action_resume))
        if self.check_action("detach", ()):
            out.append(entry("detach", "run.detach", self.action_detach))
        else:
            out.append(entry("back", "run.back", self.action_back))
        out.append(entry("smooth", "run.smooth", self.action_toggle_smoothing))
        return out
