"""The loss chart's series helpers (smoothing, resampling to columns); pure functions, no Textual app."""

from __future__ import annotations

import pytest
from ft_tui.tui.widgets.run_chart import resample, smooth, step_column


def test_smooth_is_debiased_ema() -> None:
    assert smooth([2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])
    assert smooth([1.0, 3.0], 0.0) == [1.0, 3.0]
    # s1 = 0.5*1 / (1-0.5) = 1; s2 = (0.25 + 1.5) / 0.75
    assert smooth([1.0, 3.0], 0.5) == pytest.approx([1.0, 1.75 / 0.75])
    with pytest.raises(ValueError):
        smooth([1.0], 1.0)


def test_resample_buckets_by_step() -> None:
    pts = [(s, float(s)) for s in range(1, 101)]
    out = resample(pts, 10)
    assert len(out) == 10
    assert out[0] == pytest.approx(5.5) and out[-1] == pytest.approx(95.5)
    # fewer points than columns: a step function over the full width
    assert resample(pts[:3], 10) == [1.0] * 3 + [2.0] * 3 + [3.0] * 4
    assert resample([(1, 1.0), (10, 2.0)], 10) == [1.0] * 9 + [2.0]  # a gap carries the value before it
    assert resample([(5, 4.0)], 10) == [4.0]
    assert step_column(10, 1, 10, 10) == 9 and step_column(1, 1, 10, 10) == 0
    assert resample([], 5) == [] and resample(pts, 0) == []
