"""ft-tui TUI (Textual) and the `ft-tui` command line. Never imports torch on its start-up path."""
