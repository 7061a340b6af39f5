"""The merged HTML report in a real headless Chromium (Debian's package): it loads from disk with no
server or network, the browser's own DOM has the provider-by-parameter table with evidence on
hover (title) and click (link to the case), both axes in each cell with the findings folded in a
<details>, and it renders to a screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_compare import make_run

from conformance.reports import render
from conformance.results import CellState, WireState

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# In CI the browser must really run: .ci/run installs Debian's chromium, so a missing one is a failure.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (apt-get install -y chromium fonts-noto-color-emoji)",
)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None, "chromium is required in CI: apt-get install -y chromium"
    profile = tmp_path / "chromium-profile"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


class _Table(HTMLParser):
    """The matrix tables as the browser serialised them: header cells and state cells with titles."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.state_cells: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "th":
            self._in_th = True
            self.headers.append("")
        if tag == "td" and "state" in (found.get("class") or ""):
            self.state_cells.append(found)
        if tag == "a" and (found.get("href") or "").startswith("#"):
            self.links.append(str(found["href"])[1:])

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_th = False

    def handle_data(self, data: str) -> None:
        if self._in_th:
            self.headers[-1] += data


def _merged_report(tmp_path: Path) -> Path:
    alpha = make_run(
        {"chat.completions/stop": (CellState.SUPPORTED, WireState.SPEC_VIOLATED),
         "chat.completions/n": CellState.IGNORED, "models/list": CellState.SUPPORTED},
        provider="alpha-server",
    )  # fmt: skip
    beta = make_run(
        {"chat.completions/stop": CellState.BROKEN, "chat.completions/n": CellState.SUPPORTED,
         "models/list": CellState.REJECTED},
        provider="beta-gateway",
        concurrency={"chat.completions/n": "error: HTTP 503 among concurrent requests"},
    )  # fmt: skip
    path = tmp_path / "index.html"
    path.write_text(render("html", [alpha, beta]), encoding="utf-8")
    return path


def test_merged_report_in_headless_chromium(tmp_path: Path) -> None:
    report = _merged_report(tmp_path)
    proc = _chromium(tmp_path, "--dump-dom", report.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _Table()
    dom.feed(proc.stdout)
    headers = [h.strip() for h in dom.headers]
    assert "alpha-server" in headers and "beta-gateway" in headers  # one column per provider
    assert "Core score" in headers and "Endpoint" in headers  # per endpoint scores, and the scores table
    states = [c for c in dom.state_cells if c.get("title")]
    assert len(states) >= 6  # 3 rows x 2 providers, each with hover evidence
    assert any("n went accepted but ignored" in str(c["title"]) for c in states)
    assert dom.links and set(dom.links) <= dom.ids  # every click target exists in the page
    assert "stop went broken" in proc.stdout
    # Both axes at a glance, the text behind the marks folded away.
    assert "📐 spec-violated (1)" in proc.stdout and "🔀 fails under concurrent requests" in proc.stdout
    assert proc.stdout.count('<details class="findings">') == 2
    assert "stop is spec-violated" in proc.stdout and "HTTP 503 among concurrent requests" in proc.stdout

    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1400", report.as_uri())
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
