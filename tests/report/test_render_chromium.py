"""The report renders in a real browser: headless Chromium screenshots it and dumps the DOM.

Skips (with the reason) when Debian's `chromium` is not installed; `.ci/install-chromium`
installs it. Set WHICHMODEL_REPORT_SCREENSHOT=path.png to keep the screenshot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from whichmodel.choose import recommend
from whichmodel.costs import Scenario, load_prices
from whichmodel.report import write_report
from whichmodel.report.html import SECTIONS

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium not found: run `bash .ci/install-chromium` (Debian package "
           "`chromium`) to test that the report renders")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_report_renders_in_headless_chromium(real_records, tmp_path: Path) -> None:
    prices = load_prices()
    rec = recommend(real_records, Scenario(min_quality=0.8, max_latency_p95_ms=200), prices)
    report = write_report(rec, real_records, prices, tmp_path / "report.html")
    url = report.resolve().as_uri()

    shot = tmp_path / "report.png"
    result = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", url)
    assert shot.exists(), result.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2400, 1280)
    assert float(pixels[..., :3].std()) > 0.05  # not blank: text, tables, a figure
    assert float(pixels[..., :3].mean()) > 0.5  # and not a black (crashed) page
    if os.environ.get("WHICHMODEL_REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["WHICHMODEL_REPORT_SCREENSHOT"])

    dom = _chromium(tmp_path, "--dump-dom", url).stdout
    for section_id, _ in SECTIONS:
        assert f'id="{section_id}"' in dom, section_id
    # set by the page's own script once every <img> has decoded (naturalWidth > 0)
    assert 'data-images-ok="true"' in dom, dom[:300]
    assert 'data-images-decoded="5/5"' in dom
