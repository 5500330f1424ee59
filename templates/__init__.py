"""ft-tui chat templates and dataset loading. Imports neither torch nor textual at module import time."""
