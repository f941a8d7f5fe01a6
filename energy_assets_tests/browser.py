"""The headless Chromium the page tests and ``benchmarks/page.py`` drive: Debian's ``chromium``
(no browser download) through Playwright's ``executable_path``, with the same flags everywhere."""

import os
import shutil
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing() -> str | None:
    """Why Chromium cannot start here (one line), or None when it is installed."""
    if Path(CHROMIUM).exists():
        return None
    return f"Chromium not found at {CHROMIUM}: run scripts/bootstrap.sh (installs it)"


def launch(playwright):
    """A headless Chromium browser from a ``sync_playwright()`` context."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
