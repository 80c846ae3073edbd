"""The HTML report: recommendation, evidence table and plots in one self-contained file.

`write_report` is the entry point; the figure functions in `whichmodel.report.plots` are
public too, for notebooks that want one chart without the page.
"""

from __future__ import annotations

from whichmodel.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]
