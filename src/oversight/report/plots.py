"""Generic plots for reports; every function returns PNG bytes ready for a report Figure.

Figures are built with the object-oriented :class:`matplotlib.figure.Figure` API and rendered
by the Agg canvas, never through :mod:`matplotlib.pyplot`: that needs no display, does not touch
the process-wide backend (a notebook importing this keeps its own), and leaves no figure
registered in pyplot's global state that would have to be closed. NaN points are skipped.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator, NullFormatter

DPI = 110
FIGSIZE = (6.0, 4.0)
BOUND_COLOR = "0.45"
_BOUND_STYLES = ("--", ":", "-.")

Floats = Sequence[float | None] | np.ndarray
"""Plotted values: numbers (None for a missing point) or an array."""


@dataclass
class Series:
    """One curve: ys against xs, with an optional confidence band [lo, hi] (same length)."""

    xs: Sequence[float]
    ys: Sequence[float]
    lo: Sequence[float] | None = None
    hi: Sequence[float] | None = None

    def __post_init__(self) -> None:
        n = len(self.xs)
        for name in ("ys", "lo", "hi"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise ValueError(f"Series.{name} has {len(values)} points, xs has {n}")
        if (self.lo is None) != (self.hi is None):
            raise ValueError("Series needs both lo and hi for a band, or neither")


def _floats(values: Floats | None) -> np.ndarray:
    # None (missing) becomes NaN so it is skipped like any other missing point.
    if values is None:
        return np.empty(0)
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@contextmanager
def _figure(title: str, figsize: tuple[float, float] = FIGSIZE) -> Iterator[tuple[MplFigure, Axes]]:
    fig = MplFigure(figsize=figsize)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    try:
        yield fig, ax
    finally:
        # Drop artists promptly; large reports render many figures in one process.
        fig.clear()


def _png(fig: MplFigure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _legend(ax: Axes, **kwargs: Any) -> None:
    # Only when something is labelled: an empty legend() call warns.
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", **kwargs)


def _tick_label(t: float) -> str:
    """``1/4096`` for reciprocals of whole numbers below 1, else the plain number."""
    if 0 < t < 1 and abs(1 / t - round(1 / t)) < 1e-6 * (1 / t):
        return f"1/{round(1 / t)}"
    return f"{t:g}"


def _log_x_axis(ax: Axes, xs: list[Sequence[float]]) -> None:
    ax.set_xscale("log")
    ticks = np.unique(np.concatenate([np.empty(0), *(_floats(x) for x in xs)]))
    ticks = ticks[np.isfinite(ticks) & (ticks > 0)]
    # Few x values (k = 1, 2, 4, 8, ...): label them as plain numbers rather than 2x10^0.
    if 0 < ticks.size <= 12:
        ax.set_xticks(ticks, [_tick_label(t) for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())


def line_plot(
    series: Mapping[str, Series],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    ylim: tuple[float | None, float | None] | None = None,
    bounds: Mapping[str, Series] | None = None,
) -> bytes:
    """Lines with markers, one per series, shaded where a series has a lo/hi band.

    ``bounds`` (e.g. ``{"1 - (1-p)^k (formula)": ...}``) are drawn as dashed grey lines with
    their labels as given. NaN points, and non-positive x on a log axis, are left out.
    """
    with _figure(title) as (fig, ax):
        for label, s in series.items():
            xs, ys = _floats(s.xs), _floats(s.ys)
            keep = np.isfinite(xs) & (xs > 0) if logx else np.isfinite(xs)
            # NaN in ys breaks the line there, which is the honest rendering of a gap.
            (line,) = ax.plot(xs[keep], ys[keep], marker="o", markersize=4, label=label)
            if s.lo is not None and s.hi is not None:
                lo, hi = _floats(s.lo)[keep], _floats(s.hi)[keep]
                band = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(ys[keep])
                ax.fill_between(
                    xs[keep],
                    np.nan_to_num(lo),
                    np.nan_to_num(hi),
                    where=band,
                    color=line.get_color(),
                    alpha=0.2,
                    linewidth=0,
                )
        for i, (label, b) in enumerate((bounds or {}).items()):
            xs, ys = _floats(b.xs), _floats(b.ys)
            keep = np.isfinite(xs) & (xs > 0) if logx else np.isfinite(xs)
            ax.plot(
                xs[keep],
                ys[keep],
                linestyle=_BOUND_STYLES[i % len(_BOUND_STYLES)],
                color=BOUND_COLOR,
                linewidth=1.5,
                label=label,
            )
        if logx:
            _log_x_axis(ax, [s.xs for s in series.values()])
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        _legend(ax)
        return _png(fig)


def histogram(
    groups: Mapping[str, Sequence[float]],
    *,
    title: str,
    xlabel: str,
    bins: int = 20,
    range: tuple[float, float] | None = None,  # named like numpy.histogram(range=)
) -> bytes:
    """Overlaid step histograms (counts) of each group on shared bins; NaN values are dropped."""
    data = {name: _floats(v) for name, v in groups.items()}
    data = {name: v[np.isfinite(v)] for name, v in data.items()}
    if range is None:
        pooled = np.concatenate([np.empty(0), *data.values()])
        range = (float(pooled.min()), float(pooled.max())) if pooled.size else (0.0, 1.0)
        if range[0] == range[1]:
            range = (range[0] - 0.5, range[1] + 0.5)
    # Shared edges so the groups are comparable bin for bin.
    edges = np.linspace(range[0], range[1], bins + 1)
    with _figure(title) as (fig, ax):
        for name, values in data.items():
            ax.hist(
                values,
                bins=edges.tolist(),
                histtype="step",
                linewidth=1.6,
                label=f"{name} (n={values.size})",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _legend(ax)
        return _png(fig)


def roc_plot(
    curves: Mapping[str, tuple[Floats, Floats, float | None]],
    *,
    title: str,
) -> bytes:
    """ROC curves from ``name -> (fpr, tpr, auc)``, with the chance diagonal; AUC in the legend."""
    with _figure(title) as (fig, ax):
        ax.plot([0, 1], [0, 1], linestyle="--", color=BOUND_COLOR, linewidth=1, label="chance")
        for name, (fpr, tpr, auc) in curves.items():
            f, t = _floats(fpr), _floats(tpr)
            keep = np.isfinite(f) & np.isfinite(t)
            auc_text = "n/a" if auc is None or not np.isfinite(auc) else f"{auc:.3f}"
            ax.plot(f[keep], t[keep], linewidth=1.8, label=f"{name} (AUC = {auc_text})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        _legend(ax, loc="lower right")
        return _png(fig)


def bar_plot(
    values: Mapping[str, tuple[float, float, float]],
    *,
    title: str,
    ylabel: str,
) -> bytes:
    """One bar per name with an error bar from ``(value, lo, hi)``; NaN values draw no bar."""
    names = list(values)
    v = _floats([values[n][0] for n in names])
    lo = _floats([values[n][1] for n in names])
    hi = _floats([values[n][2] for n in names])
    # Error bars are distances from the value; a missing or inverted bound draws no whisker.
    yerr = np.nan_to_num(np.vstack([v - lo, hi - v]), nan=0.0).clip(min=0.0)
    heights = np.nan_to_num(v, nan=0.0)
    with _figure(title) as (fig, ax):
        x = np.arange(len(names))
        ax.bar(x, heights, yerr=yerr, capsize=4, color="C0", alpha=0.85, ecolor="0.2")
        ax.set_xticks(x, names)
        if names and max(len(n) for n in names) * len(names) > 60:
            # Long labels would overlap horizontally.
            ax.tick_params(axis="x", labelrotation=30)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
        for xi in x[np.isnan(v)]:
            ax.annotate("n/a", (xi, 0), ha="center", va="bottom", color="0.4")
        ax.set_ylabel(ylabel)
        ax.grid(False, axis="x")
        return _png(fig)


def heatmap(
    values: np.ndarray,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    xticks: Sequence[str],
    yticks: Sequence[str],
    vmin: float = 0.0,
    vmax: float = 1.0,
) -> bytes:
    """A grid of values (rows along y, columns along x), each cell annotated; NaN cells blank."""
    v = np.asarray(values, dtype=float)
    if v.shape != (len(yticks), len(xticks)):
        raise ValueError(
            f"heatmap values have shape {v.shape}, ticks say {(len(yticks), len(xticks))}"
        )
    with _figure(title) as (fig, ax):
        image = ax.imshow(
            np.ma.masked_invalid(v), vmin=vmin, vmax=vmax, cmap="viridis", origin="lower"
        )
        fig.colorbar(image, ax=ax)
        ax.set_xticks(np.arange(len(xticks)), list(xticks))
        ax.set_yticks(np.arange(len(yticks)), list(yticks))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        for (i, j), x in np.ndenumerate(v):
            if np.isfinite(x):
                dark = x > vmin + 0.6 * (vmax - vmin)
                ax.text(
                    j, i, f"{x:.2f}", ha="center", va="center", color="black" if dark else "white"
                )
        ax.grid(False)
        return _png(fig)
