"""Screenshots of the review console's views at 1440x900 and 1280x720, for people to look at.

Builds a project on the demo guideline (``guidelines/support-intent.md``, 77 labels) with
items to review and one waiting for adjudication, serves the console, signs in an admin
with headless Chromium and writes ``<view>-<width>x<height>.png`` for the review tab, the
review tab with the guideline open (g), the item browser and adjudication.

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
    from tests.support.screens import VIEWPORTS, VIEWS, demo_project, layout_problems, open_view

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        project = demo_project(Path(tmp))
        with served(project) as url:
            browser = Browser(chromium, url)
            for width, height in VIEWPORTS:
                page = browser.page("ada", viewport=(width, height))
                for view in VIEWS:
                    try:
                        open_view(page, view)
                    except AssertionError as exc:  # shot as it is, and said
                        print(f"{view} at {width}x{height}: {str(exc).splitlines()[0]}")
                    path = args.out / f"{view}-{width}x{height}.png"
                    page.screenshot(path=str(path))
                    problems = layout_problems(page)
                    print(
                        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
                        f"{len(problems)} layout problems"
                    )
                    for problem in problems[:10]:
                        print(f"  {problem}")
                    if view == "guideline":
                        page.keyboard.press("Escape")
        project.store.close()
        chromium.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
