"""Screenshots of the review console's views at 1440x900 and 1280x720, for people to look at.

Builds a project on the demo guideline (``guidelines/support-intent.md``, 77 labels) with
items to review and one waiting for adjudication, serves the console, signs in an admin
with headless Chromium and writes ``<view>-<width>x<height>.png`` for the review tab, the
review tab with the guideline open (g) and with the reject reasons open (x), the item
browser, adjudication and the dashboard; then ``<shape>-<view>-<width>x<height>.png`` of the
review tab (plain, guideline open, reject reasons open) for the other task shapes:
questions, spans, pairwise, rating and ranking.

    python benchmarks/console_screens.py                 # into $TMPDIR/labelloop-screens
    python benchmarks/console_screens.py --out /tmp/shots

Needs Chromium (``LABELLOOP_CHROMIUM`` or /usr/bin/chromium) and Playwright. Also prints
what :func:`tests.support.screens.layout_problems` finds on each screen.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(tempfile.gettempdir()) / "labelloop-screens"
    parser.add_argument("--out", type=Path, default=default, help=f"folder (default {default})")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM_ARGS, chromium_path
    from tests.support.console import Browser, served
    from tests.support.screens import SHAPES, VIEWPORTS, VIEWS, demo_project, shape_project

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        project = demo_project(Path(tmp))
        with served(project) as url:
            browser = Browser(chromium, url)
            for size in VIEWPORTS:
                shoot(browser.page("ada", viewport=size), VIEWS, args.out, "", size)
        project.store.close()
        for shape in SHAPES:
            project = shape_project(Path(tmp) / shape, shape)
            with served(project) as url:
                browser = Browser(chromium, url)
                for size in VIEWPORTS:
                    page = browser.page("rita", viewport=size)
                    shoot(page, ("review", "guideline", "reject"), args.out, f"{shape}-", size)
            project.store.close()
        chromium.close()
    return 0


def shoot(page, views, out: Path, prefix: str, size: tuple[int, int]) -> None:
    """A screenshot of each view, and what :func:`layout_problems` finds on it."""
    from tests.support.screens import layout_problems, open_view

    width, height = size
    for view in views:
        try:
            open_view(page, view)
        except AssertionError as exc:  # shot as it is, and said
            print(f"{prefix}{view} at {width}x{height}: {str(exc).splitlines()[0]}")
        path = out / f"{prefix}{view}-{width}x{height}.png"
        page.screenshot(path=str(path))
        problems = layout_problems(page)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"{shown}: {len(problems)} layout problems")
        for problem in problems[:10]:
            print(f"  {problem}")
        if view in ("guideline", "reject"):
            page.keyboard.press("Escape")


if __name__ == "__main__":
    raise SystemExit(main())
