"""The message catalog by area, one module each (``CATALOG``: code -> {"en": ..., "zh": ...}); merged by
:func:`ft_tui.planner.messages.catalog`, which lists the areas. A code is unique across areas."""
