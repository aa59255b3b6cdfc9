"""Render a self-contained HTML page in Debian's headless Chromium (shared by the report tests)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")

#: Logs how many images decoded once the page has loaded; the pages themselves have no script.
_PROBE = ('<script>window.addEventListener("load",()=>{const i=[...document.images];'
          'console.log("TW-IMAGES "+i.filter(x=>x.complete&&x.naturalWidth>0).length+"/"+i.length)});</script>')


@dataclass
class Rendered:
    stderr: str
    other_console: list[str]  # console lines besides the probe's: errors and warnings
    images_loaded: int | None
    images_total: int | None
    screenshot: np.ndarray  # (height, width, 3) int32


def render(page: str, tmp_path: Path, height: int) -> Rendered:
    """Screenshot ``page`` (1280 px wide) and report its console and decoded images."""
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--hide-scrollbars",
         f"--screenshot={shot}", f"--window-size=1280,{height}", probed.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    loaded = re.search(r"TW-IMAGES (\d+)/(\d+)", result.stderr)
    return Rendered(
        stderr=result.stderr,
        other_console=[line for line in console if "TW-IMAGES" not in line],
        images_loaded=int(loaded.group(1)) if loaded else None,
        images_total=int(loaded.group(2)) if loaded else None,
        screenshot=np.asarray(Image.open(shot).convert("RGB")).astype(np.int32),
    )
