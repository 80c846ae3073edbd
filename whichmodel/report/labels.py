"""Labels on the report's figures that stay inside the axes and clear of each other.

Each label's text box is measured as drawn; `LabelPlacer` tries offsets nearest first and
keeps the first whose box lies inside the frame and collides with no label, point, marker
or line already placed (greedy, in display space), else the least-overlapping one, clipped
to the axes. A figure a reader cannot read is a figure the report got wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def mpl_text(text: str) -> str:
    """``text`` as matplotlib shows it literally: two ``$`` would start mathtext
    ("$813 vs $1,580" rendered as an italic "813vs1,580")."""
    return text.replace("$", r"\$")


def place_labels(ax: Any, items: Sequence[tuple[float, float, str]],
                 fontsize: float = 7.5, avoid: Sequence[tuple[float, float]] = (),
                 lines: Sequence[tuple[Sequence[float], Sequence[float]]] = ()) -> None:
    """Annotate points without overlaps and inside the axes: try a few offsets per label,
    keep the first whose measured text box lies in the frame and collides with no label
    or point already placed, nor with the big markers at `avoid` or the `lines` (xs, ys)
    drawn (greedy, display space, top points first)."""
    placer = LabelPlacer(ax, [(x, y) for x, y, _ in items])
    placer.avoid(avoid, radius_pt=11)
    for xs, ys in lines:
        placer.avoid_line(xs, ys)
    order = sorted(items, key=lambda t: (-placer.pixel(t[0], t[1])[1], placer.pixel(t[0], t[1])[0]))
    for x, y, text in order:
        placer.place(text, (x, y), POINT_OFFSETS, fontsize=fontsize, color="#333")


# Offsets (points) from a point to its label, nearest first; negative dx: text to the left.
POINT_OFFSETS = ((7, 3), (7, -10), (-7, 3), (-7, -10), (7, 12), (7, -19), (-7, 12),
                 (-7, -19), (7, 21), (-7, 21), (7, -28), (-7, -28), (0, 14), (0, -22))


class LabelPlacer:
    """Places annotations one by one where their measured boxes fit: inside the axes and
    clear of what was placed before (and of the points given). When no offset fits, the
    label goes where it overlaps least while inside the frame, and is clipped to the axes
    if even that fails: a label never spills over the frame into the ticks or the legend.
    """

    def __init__(self, ax: Any, points: Sequence[tuple[float, float]] = (),
                 point_radius_px: float = 5.0) -> None:
        self.ax, self.fig = ax, ax.figure
        self.fig.draw_without_rendering()  # final limits and layout: transforms hold
        self.renderer = self.fig.canvas.get_renderer()
        frame = ax.get_window_extent(self.renderer)
        self.frame = (frame.x0 + 2, frame.y0 + 2, frame.x1 - 2, frame.y1 - 2)
        r = point_radius_px * self.fig.dpi / 72.0
        self.taken = [(px - r, py - r, px + r, py + r)
                      for px, py in (self.pixel(x, y) for x, y in points)]

    def avoid(self, points: Sequence[tuple[float, float]], radius_pt: float) -> None:
        """Keep labels off markers of ``radius_pt`` points at these data coordinates."""
        r = radius_pt * self.fig.dpi / 72.0
        for x, y in points:
            px, py = self.pixel(x, y)
            self.taken.append((px - r, py - r, px + r, py + r))

    def avoid_line(self, xs: Sequence[float], ys: Sequence[float],
                   half_width_px: float = 2.0) -> None:
        """Keep labels off a drawn line through these data points (a label over a line is
        still read, so this only steers the choice: overlap is minimised, not forbidden)."""
        pixels = [self.pixel(x, y) for x, y in zip(xs, ys)]
        for (x0, y0), (x1, y1) in zip(pixels, pixels[1:]):
            steps = max(1, int(math.hypot(x1 - x0, y1 - y0) / 3))
            for k in range(steps + 1):
                px, py = x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps
                self.taken.append((px - half_width_px, py - half_width_px,
                                   px + half_width_px, py + half_width_px))

    def pixel(self, x: float, y: float) -> tuple[float, float]:
        px, py = self.ax.transData.transform((x, y))
        return float(px), float(py)

    def place(self, text: str, xy: tuple[float, float],
              offsets: Sequence[tuple[float, float]], **kwargs: Any) -> Any:
        """The annotation of ``xy`` at the first offset that fits (see the class)."""
        from matplotlib.text import Text

        text = mpl_text(text)
        kwargs.setdefault("multialignment", "left")
        best: tuple[float, Any, tuple] | None = None
        for dx, dy in offsets:
            ann = self.ax.annotate(text, xy, textcoords="offset points", xytext=(dx, dy),
                                   ha="left" if dx >= 0 else "right",
                                   va="bottom" if dy >= 0 else "top",
                                   annotation_clip=True, **kwargs)
            ann.get_window_extent(self.renderer)  # positions the text
            extent = Text.get_window_extent(ann, self.renderer)
            pad = 2.5 if ann.get_bbox_patch() is not None else 0.5
            box = (extent.x0 - pad, extent.y0 - pad, extent.x1 + pad, extent.y1 + pad)
            if self._inside(box):
                overlap = sum(_overlap(box, other) for other in self.taken)
                if overlap == 0:
                    if best is not None:
                        best[1].remove()
                    self.taken.append(box)
                    return ann
                if best is None or overlap < best[0]:
                    if best is not None:
                        best[1].remove()
                    best = (overlap, ann, box)
                    continue
            ann.remove()
        if best is not None:
            self.taken.append(best[2])
            return best[1]
        dx, dy = offsets[0]
        ann = self.ax.annotate(text, xy, textcoords="offset points", xytext=(dx, dy),
                               ha="left" if dx >= 0 else "right",
                               va="bottom" if dy >= 0 else "top", annotation_clip=True,
                               clip_on=True, **kwargs)
        return ann

    def _inside(self, box: tuple[float, float, float, float]) -> bool:
        x0, y0, x1, y1 = self.frame
        return box[0] >= x0 and box[1] >= y0 and box[2] <= x1 and box[3] <= y1


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The area two boxes (x0, y0, x1, y1) share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


# Offsets (points) of a ringed point's callout: below right first, then the other sides.
CALLOUT_OFFSETS = ((10, -9), (10, 9), (-10, -9), (-10, 9), (10, -24), (-10, -24),
                   (10, 24), (-10, 24), (0, -32), (0, 32))
