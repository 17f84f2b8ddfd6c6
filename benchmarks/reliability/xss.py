"""XSS payloads executed in the console, in Chromium.

The corpus ``corpus/xss_payloads.txt`` (one payload a line; tests/console/test_browser_xss.py reads
the same file) goes into every field the console shows: item texts, rationales, the
guideline, reject comments, a user name, and item ids typed into the item browser (the
error that names an unknown id). ``tests/xss_support.walk`` shows each to a reviewer and an
admin in headless Chromium (Playwright, ``/usr/bin/chromium`` or ``LABELLOOP_CHROMIUM``) and
records: payloads that ran script (``window.__xss`` assigned, or a dialog), payloads that
became markup (elements, handler attributes, script or off-site addresses where data is
shown, anything in an error message) and requests that left the console's origin.
"""

from __future__ import annotations

from pathlib import Path


def run(store_url: str, workdir: Path) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM_ARGS, chromium_path
    from tests.support.xss import PAYLOADS, hostile_project, walk

    path = chromium_path()
    if path is None:
        raise RuntimeError("Chromium not found: install it or set LABELLOOP_CHROMIUM")
    project = hostile_project(workdir, database_url=store_url)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
            try:
                found = walk(browser, project, ids=True)
            finally:
                browser.close()
    finally:
        project.store.close()
    shown = found.checks
    return {
        "rows": [
            {
                "measure": "XSS payloads executed",
                "value": len(found.executed) + len(found.dialogs),
                "of": len(PAYLOADS),
                "should_be": 0,
                "note": f"{shown} screens checked: texts, rationales, guideline, comments, "
                "a user name, ids",
            },
            {
                "measure": "  screens where a payload became markup",
                "value": len(found.markup),
                "of": shown,
                "should_be": 0,
            },
            {
                "measure": "  requests sent off-origin",
                "value": len(set(found.offsite) - set(found.blocked)),
                "should_be": 0,
                "note": f"{len(set(found.blocked))} more stopped by the CSP",
            },
        ],
        **found.summary(),
    }
