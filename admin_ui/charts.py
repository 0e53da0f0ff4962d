"""Bar and line charts as geometry for SVG drawn by the report templates: no chart library and no script, and every
label goes through Jinja's autoescaping like any other text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["BarChart", "LineChart", "bar_chart", "line_chart"]

WIDTH = 640
HEIGHT = 220
LEFT = 44
BOTTOM = 28
TOP = 12
PALETTE = ("#2563eb", "#16a34a", "#d97706", "#db2777", "#7c3aed", "#0891b2")


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Tick:
    value: float
    y: float


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick]
    baseline: float


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    color: str
    points: str
    """`x,y x,y …` for a polyline."""


@dataclass(frozen=True, slots=True)
class LineChart:
    width: int
    height: int
    lines: list[Line]
    ticks: list[Tick]
    labels: list[tuple[float, str]]
    """The x position and text of each labelled category (at most about ten, so they do not overlap)."""
    baseline: float


def _scale_top(values: Sequence[float]) -> float:
    """A round top for the axis: 1, 2 or 5 times a power of ten, at least the largest value."""
    largest = max([*values, 0.0])
    if largest <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= largest:
        step *= 10
    return next(step * factor for factor in (1, 2, 5, 10) if step * factor >= largest)


def _ticks(top: float, plot_height: float) -> list[Tick]:
    return [Tick(value=top * share, y=TOP + plot_height * (1 - share)) for share in (0, 0.5, 1)]


def bar_chart(items: Sequence[tuple[str, float]], width: int = WIDTH, height: int = HEIGHT) -> BarChart:
    plot_width, plot_height = width - LEFT - 8, height - TOP - BOTTOM
    top = _scale_top([value for _, value in items])
    slot = plot_width / max(len(items), 1)
    bars = []
    for index, (label, value) in enumerate(items):
        bar_height = plot_height * value / top
        bars.append(
            Bar(
                label=label,
                value=value,
                x=round(LEFT + index * slot + slot * 0.15, 1),
                y=round(TOP + plot_height - bar_height, 1),
                width=round(slot * 0.7, 1),
                height=round(bar_height, 1),
            )
        )
    return BarChart(width, height, bars, _ticks(top, plot_height), TOP + plot_height)


def line_chart(
    categories: Sequence[str], series: Mapping[str, Sequence[float]], width: int = WIDTH, height: int = HEIGHT
) -> LineChart:
    plot_width, plot_height = width - LEFT - 8, height - TOP - BOTTOM
    top = _scale_top([value for values in series.values() for value in values])
    step = plot_width / max(len(categories) - 1, 1)

    def x_of(index: int) -> float:
        return round(LEFT + index * step, 1)

    lines = [
        Line(
            name=name,
            color=PALETTE[number % len(PALETTE)],
            points=" ".join(
                f"{x_of(index)},{round(TOP + plot_height * (1 - value / top), 1)}"
                for index, value in enumerate(values)
            ),
        )
        for number, (name, values) in enumerate(series.items())
    ]
    every = max(1, -(-len(categories) // 10))
    labels = [(x_of(index), category) for index, category in enumerate(categories) if index % every == 0]
    return LineChart(width, height, lines, _ticks(top, plot_height), labels, TOP + plot_height)
