"""Widgets grouped by screen area: the setup form, plan and help panels; the run screen's widgets (run_*.py)."""
