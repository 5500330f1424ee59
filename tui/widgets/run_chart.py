"""A loss chart drawn with block characters: train loss as columns (eighth-height resolution), eval loss as dots.

No plotting dependency: the chart is a few dozen cells wide, so one column per step bucket with ``▁▂▃▄▅▆▇█``
gives 8 levels per row, and the y axis is labelled with the plotted range. Smoothing (a debiased EMA,
:func:`smooth`) applies to the train series before it is bucketed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ft_tui.tui.i18n import label
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"
EVAL_MARK = "●"
SMOOTH_WEIGHT = 0.9
AXIS_WIDTH = 8  # "12.3456┤"


def smooth(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (TensorBoard's scalar smoothing, debiased as in Adam).

    ``s_t = w * s_{t-1} + (1 - w) * x_t`` with ``s_0 = 0``, reported as ``s_t / (1 - w**t)`` so early points are
    not pulled toward zero (Kingma & Ba 2015, section 3). ``weight`` in [0, 1); 0 returns the values unchanged.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    out: list[float] = []
    acc = 0.0
    for t, x in enumerate(values, start=1):
        acc = weight * acc + (1.0 - weight) * x
        out.append(acc / (1.0 - weight ** t))
    return out


def step_column(step: int, first: int, last: int, width: int) -> int:
    """The column (0 .. width-1) that ``step`` falls in when steps ``first`` .. ``last`` span ``width`` columns."""
    span = max(1, last - first + 1)
    return max(0, min(width - 1, int((step - first) * width / span)))


def resample(points: Sequence[tuple[int, float]], width: int) -> list[float]:
    """``points`` (step, value), ascending steps, as ``width`` values over the step axis (:func:`step_column`).

    A column holding several points gets their mean; an empty one (fewer points than columns, or a gap in the
    steps) carries the value before it, so a short run fills the width as a step function. One point gives one
    column.
    """
    if width <= 0 or not points:
        return []
    if len(points) == 1:
        return [points[0][1]]
    first, last = points[0][0], points[-1][0]
    sums = [0.0] * width
    counts = [0] * width
    for step, value in points:
        i = step_column(step, first, last, width)
        sums[i] += value
        counts[i] += 1
    out: list[float] = []
    prev = points[0][1]
    for s, c in zip(sums, counts, strict=True):
        if c:
            prev = s / c
        out.append(prev)
    return out


def _axis_label(value: float) -> str:
    text = f"{value:.4g}" if abs(value) < 1000 else f"{value:.3g}"
    return text[:AXIS_WIDTH - 1].rjust(AXIS_WIDTH - 1)


class LossChart(Widget):
    """Train and eval loss over steps. ``set_series`` feeds it; ``smoothing`` toggles the EMA."""

    DEFAULT_CSS = """
    LossChart { width: 1fr; height: 1fr; min-height: 4; border: round $primary 50%; padding: 0 1 0 0; }
    LossChart > .loss-chart--train { color: $accent; }
    LossChart > .loss-chart--eval { color: $warning; text-style: bold; }
    LossChart > .loss-chart--axis { color: $text-muted; }
    """
    COMPONENT_CLASSES = {"loss-chart--train", "loss-chart--eval", "loss-chart--axis"}

    smoothing: reactive[bool] = reactive(False)
    lang: reactive[str] = reactive("en")

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self._train: tuple[tuple[int, float], ...] = ()
        self._eval: tuple[tuple[int, float], ...] = ()

    def set_series(self, train: Sequence[tuple[int, float]], eval_: Sequence[tuple[int, float]]) -> None:
        """Replace the plotted series (``(step, loss)`` pairs, ascending steps); redraws when they changed."""
        train, eval_ = tuple(train), tuple(eval_)
        if (train, eval_) != (self._train, self._eval):
            self._train, self._eval = train, eval_
            self._update_titles()
            self.refresh()

    def watch_smoothing(self) -> None:
        self._update_titles()
        self.refresh()

    def watch_lang(self) -> None:
        self._update_titles()
        self.refresh()

    def _update_titles(self) -> None:
        self.border_title = label(self.lang, "chart_title")
        mode = label(self.lang, "chart_smoothed" if self.smoothing else "chart_raw")
        last = []
        if self._train:
            last.append(f"{self._train[-1][1]:.4f}")
        if self._eval:
            last.append(f"{label(self.lang, 'eval_loss')} {self._eval[-1][1]:.4f}")
        self.border_subtitle = " · ".join([*last, mode])

    # -- drawing -----------------------------------------------------------------------------------------------
    def columns(self, width: int) -> tuple[list[float], list[tuple[int, float]]]:
        """The train values per column (at most ``width``), and each eval point as ``(column, value)``."""
        if not self._train or width <= 0:
            return [], []
        steps = [s for s, _ in self._train]
        values = [v for _, v in self._train]
        if self.smoothing:
            values = smooth(values, SMOOTH_WEIGHT)
        points = list(zip(steps, values, strict=True))
        cols = resample(points, width)
        evals = [(step_column(step, steps[0], steps[-1], len(cols)), value) for step, value in self._eval]
        return cols, evals

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        rows = height - 1  # the last row is the step axis
        plot_width = width - AXIS_WIDTH
        if not self._train or rows < 1 or plot_width < 4:
            return Text(label(self.lang, "chart_empty"), style="dim")
        cols, evals = self.columns(plot_width)
        shown = cols + [v for _, v in evals]
        lo, hi = min(shown), max(shown)
        pad = (hi - lo) * 0.05 or max(abs(hi) * 0.05, 1e-6)
        lo, hi = lo - pad, hi + pad
        train_style = self.get_component_rich_style("loss-chart--train")
        eval_style = self.get_component_rich_style("loss-chart--eval")
        axis_style = self.get_component_rich_style("loss-chart--axis")

        eighths = [max(1, round((v - lo) / (hi - lo) * rows * 8)) for v in cols]
        marks: dict[tuple[int, int], bool] = {}
        for col, value in evals:
            row_from_bottom = min(rows - 1, max(0, int((value - lo) / (hi - lo) * rows)))
            marks[(rows - 1 - row_from_bottom, col)] = True

        text = Text(no_wrap=True, overflow="crop")
        for r in range(rows):
            axis = _axis_label(hi if r == 0 else lo) if r in (0, rows - 1) else " " * (AXIS_WIDTH - 1)
            text.append(axis + "┤", style=axis_style)
            base = (rows - 1 - r) * 8
            for c, e in enumerate(eighths):
                if (r, c) in marks:
                    text.append(EVAL_MARK, style=eval_style)
                else:
                    text.append(BLOCKS[max(0, min(8, e - base))], style=train_style)
            text.append("\n")
        first, last = str(self._train[0][0]), str(self._train[-1][0])
        span = len(cols)
        gap = max(1, span - len(first) - len(last))
        text.append(" " * (AXIS_WIDTH - 1) + "└", style=axis_style)
        text.append(first + " " * gap + last if span > len(first) + len(last) else last, style=axis_style)
        return text
