"""ft-tui planner: hardware probe, model inspection, memory model and recommendation.

Imports neither torch nor textual at module import time.
"""
