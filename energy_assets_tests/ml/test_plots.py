"""The evaluation report's predicted-vs-actual figure, read as a person would read it."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from energy_assets.ml.plots import plot_predicted_vs_actual, predicted_vs_actual_figure


def _frame(meters: int, days: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(meters):
        dates = pd.date_range("2026-10-20", periods=days)
        actual = 20 + 5 * i + rng.normal(0, 2, days)
        forecast = actual + rng.normal(0, 1, days)
        rows.append(
            pd.DataFrame(
                {
                    "meter_id": f"meter-{i:04d}",
                    "date": dates,
                    "actual": actual,
                    "forecast": forecast,
                    "baseline": np.roll(actual, 7),
                    "lower_80": forecast - 3,
                    "upper_80": forecast + 3,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _overlaps(boxes) -> bool:
    boxes = sorted(boxes, key=lambda b: b.x0)
    return any(a.x1 > b.x0 for a, b in zip(boxes, boxes[1:], strict=False))


@pytest.mark.parametrize(("meters", "days"), [(24, 28), (12, 14), (5, 56), (1, 28)])
def test_date_labels_of_every_panel_stay_apart(meters, days):
    figure = predicted_vs_actual_figure(_frame(meters, days), unit="MWh")
    canvas = FigureCanvasAgg(figure)  # as savefig renders the PNG
    canvas.draw()
    renderer = canvas.get_renderer()
    for axis in figure.axes:
        labels = [t for t in axis.get_xticklabels() if t.get_visible() and t.get_text()]
        assert len(labels) >= 2, axis.get_title()
        assert not _overlaps([t.get_window_extent(renderer) for t in labels]), axis.get_title()
        assert axis.get_ylabel() == "MWh per day"


def test_one_legend_names_the_band_too():
    figure = predicted_vs_actual_figure(_frame(6, 28))
    legends = [axis.get_legend() for axis in figure.axes if axis.get_legend()]
    assert len(legends) == 1
    texts = [t.get_text() for t in legends[0].get_texts()]
    assert texts == ["actual", "forecast", "seasonal naive", "80% interval (meter panels)"]
    without_band = _frame(2, 28).drop(columns=["lower_80", "upper_80"])
    legend = predicted_vs_actual_figure(without_band).axes[0].get_legend()
    assert "80% interval (meter panels)" not in [t.get_text() for t in legend.get_texts()]


def test_png_with_the_default_unit():
    figure = predicted_vs_actual_figure(_frame(3, 28))
    assert figure.axes[0].get_ylabel() == "kWh per day"
    png = plot_predicted_vs_actual(_frame(3, 28), title="Test window")
    assert png.startswith(b"\x89PNG")
