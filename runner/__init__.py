"""ft-tui runner: the detached trainer process, run directories, progress events, and the demo kit."""
