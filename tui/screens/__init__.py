"""Screens of the TUI: setup (setup.py), run and runs (run.py, runs.py), and shared dialogs (dialogs.py)."""
