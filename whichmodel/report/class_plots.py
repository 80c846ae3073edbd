"""Figures about one model's classes: per-class F1 bars and the confusion matrix.

Apart from `plots` (which compares candidates) because these answer a different
question — where does the chosen model fail? — and must stay readable at 77+ classes.
Inputs are the runs (seeds) of one candidate@budget; scores are averaged, confusions
summed over them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from whichmodel.report.formatting import shorten
from whichmodel.report.plots import colormap, new_axes, to_png

# Above this many classes the per-class chart shows the worst and best ones only, and the
# confusion heatmap drops its tick labels (a table of the top confused pairs replaces them).
MAX_CLASSES_IN_FULL = 80
MAX_CLASSES_WITH_TICKS = 30
WORST_SHOWN, BEST_SHOWN = 30, 15

def mean_per_class_f1(records: Sequence[Any]) -> dict[str, float]:
    """Per-class F1 averaged over the seeds of one candidate@budget (classes as in runs)."""
    scores: dict[str, list[float]] = {}
    for record in records:
        for cls, row in (record.metrics or {}).get("per_class", {}).items():
            scores.setdefault(str(cls), []).append(float(row.get("f1", 0.0)))
    return {cls: float(np.mean(values)) for cls, values in scores.items()}


def per_class_f1_plot(f1_by_class: dict[str, float], title: str) -> bytes | None:
    """Horizontal bars, worst class on top; past 80 classes only the worst and best.

    Worst first because the question a reader brings is "where does it fail?".
    """
    if not f1_by_class:
        return None
    ranked = sorted(f1_by_class.items(), key=lambda kv: (kv[1], kv[0]))
    shown: list[tuple[str, float]] = list(ranked)
    if len(ranked) > MAX_CLASSES_IN_FULL:
        shown = ranked[:WORST_SHOWN] + [("…", float("nan"))] + ranked[-BEST_SHOWN:]
    names = [shorten(name, 40) for name, _ in shown]
    values = np.array([v for _, v in shown])
    height = max(3.0, 0.17 * len(shown) + 1.2)
    fig, ax = new_axes(8, height)
    cmap = colormap("RdYlGn")
    ax.barh(np.arange(len(shown)), np.nan_to_num(values), color=cmap(np.nan_to_num(values)),
            height=0.75)
    ax.set_yticks(np.arange(len(shown)), names, fontsize=6.5 if len(shown) > 40 else 8)
    ax.set_ylim(len(shown) - 0.5, -0.5)  # worst on top, no empty margins
    macro = float(np.mean(list(f1_by_class.values())))
    ax.axvline(macro, color="#333", ls="--", lw=1)
    ax.set_xlim(0, 1.0)
    ax.set_xlabel(f"F1 on the test split (mean over seeds); dashed: mean over classes "
                  f"{macro:.3f}")
    ax.xaxis.set_ticks_position("both")
    ax.tick_params(axis="x", labeltop=True)
    ax.set_title(title, fontsize=11)
    ax.grid(True, axis="x", alpha=0.25)
    return to_png(fig)


def summed_confusion(records: Sequence[Any]) -> tuple[np.ndarray, list[str]] | None:
    """The confusion matrices of one candidate@budget summed over seeds, with classes."""
    total, classes = None, None
    for record in records:
        metrics = record.metrics or {}
        if "confusion" not in metrics or "classes" not in metrics:
            continue
        matrix = np.asarray(metrics["confusion"], dtype=float)
        if total is None:
            total, classes = matrix, [str(c) for c in metrics["classes"]]
        elif matrix.shape == total.shape and [str(c) for c in metrics["classes"]] == classes:
            total = total + matrix
    return None if total is None or total.size == 0 else (total, classes)


def top_confused_pairs(matrix: np.ndarray, classes: Sequence[str],
                       n: int = 15) -> list[tuple[str, str, int, float]]:
    """(true, predicted, count, share of the true class) for the largest off-diagonals."""
    off = np.array(matrix, dtype=float)
    np.fill_diagonal(off, 0)
    row_totals = np.asarray(matrix, dtype=float).sum(axis=1)
    order = np.argsort(off, axis=None)[::-1][:n]
    pairs = []
    for flat in order:
        i, j = np.unravel_index(flat, off.shape)
        if off[i, j] <= 0:
            break
        share = off[i, j] / row_totals[i] if row_totals[i] else 0.0
        pairs.append((classes[i], classes[j], int(off[i, j]), float(share)))
    return pairs


def confusion_plot(matrix: np.ndarray, classes: Sequence[str], title: str) -> bytes | None:
    """Row-normalised confusion heatmap; a power colour scale keeps off-diagonals visible.

    Past 30 classes tick labels would be unreadable, so they go; the page lists the top
    confused pairs by name instead.
    """
    if matrix is None or len(classes) < 2:
        return None
    from matplotlib.colors import PowerNorm

    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    k = len(classes)
    size = 6.5 if k <= MAX_CLASSES_WITH_TICKS else 7.5
    fig, ax = new_axes(size + 1.2, size)
    image = ax.imshow(share, cmap="Blues", norm=PowerNorm(gamma=0.35, vmin=0, vmax=1),
                      interpolation="nearest")
    if k <= MAX_CLASSES_WITH_TICKS:
        ticks = np.arange(k)
        names = [shorten(c, 22) for c in classes]
        ax.set_xticks(ticks, names, rotation=90, fontsize=7)
        ax.set_yticks(ticks, names, fontsize=7)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"predicted class ({k} classes, same order as rows)")
    ax.set_ylabel("true class")
    if k <= MAX_CLASSES_WITH_TICKS:
        ax.set_xlabel("predicted class")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_title(title, fontsize=11)
    return to_png(fig)
