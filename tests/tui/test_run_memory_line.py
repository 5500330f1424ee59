"""The run screen says "planned X, measured Y" once a run's end event carries both (CPU runs: the peak as before)."""

from __future__ import annotations

from ft_tui.runner.events import EndEvent, LogEvent, RunModel, StartEvent
from ft_tui.tui.widgets.run_progress import metrics_text, planned_vs_measured

START = StartEvent(time=1.0, total_steps=2)
LOG = LogEvent(time=2.0, step=2, loss=1.5, gpu_mem_reserved_gib=10.6)
PLANNED = {"peak_gib": 10.5, "cuda_context_gib": 0.5, "gpu": "NVIDIA GeForce RTX 4090"}
MEASURED = [{"rank": 0, "device": "NVIDIA GeForce RTX 4090", "max_allocated_gib": 9.8, "max_reserved_gib": 10.6,
             "total_gib": 23.988}]


def _view(*events):
    model = RunModel()
    model.ingest([START, LOG, *events])
    return model.snapshot()


def test_an_ended_gpu_run_shows_planned_against_measured_in_both_languages():
    view = _view(EndEvent(time=3.0, status="completed", step=2, planned=PLANNED, measured=MEASURED))
    assert planned_vs_measured(view, "en") == "memory planned 10.0 GiB, measured 10.6 GiB (+6 %)"
    assert planned_vs_measured(view, "zh") == "显存计划 10.0 GiB，实测 10.6 GiB（+6 %）"
    text = metrics_text(view, "en").plain
    assert "memory planned 10.0 GiB, measured 10.6 GiB (+6 %)" in text and "peak mem" not in text


def test_a_live_or_cpu_run_keeps_the_peak_line():
    live = _view()
    assert planned_vs_measured(live, "en") is None and "peak mem 10.6 GiB" in metrics_text(live, "en").plain
    cpu = _view(EndEvent(time=3.0, status="completed", step=2, planned=PLANNED))
    assert planned_vs_measured(cpu, "en") is None
