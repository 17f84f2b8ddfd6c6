"""Access checks accepted that should be refused, over HTTP against a served console.

The probes are ``tests/support/console_probes.py`` (tests/console/test_access_probes.py runs
them too, less
the sign-in throttle's): every route of the app with no session, a forged cookie, a
logged-out, an expired and an idle session; every Gradio event through the queue with the
same cookies; every admin event called by a reviewer; every state-changing route from
another origin; file routes asked for files outside what they serve; and wrong passwords
from a new ``X-Forwarded-For`` each, beyond the account's limit. Only the sign-in routes
(``labelloop.ui.security.PUBLIC``) may answer anyone.
"""

from __future__ import annotations

from pathlib import Path


def run(store_url: str, workdir: Path) -> dict:
    from labelloop.core.types import Route
    from tests.support import console_probes as probes
    from tests.support.console import guideline_text, make_project, seed, texts

    guideline = guideline_text(("refund", "other"))
    project = make_project(workdir, guideline, probes.ACCOUNTS, database_url=store_url)
    try:
        seed(project, texts("ep", 3, route=Route.ACTIVE))
        with probes.served_app(project) as (url, app):
            found = probes.probe_console(project, url, app)
    finally:
        project.store.close()
    seen = probes.summary(found)
    kinds = seen["by kind"]
    detail = ", ".join(f"{k} {v['accepted']}/{v['probes']}" for k, v in kinds.items())
    return {
        "rows": [
            {
                "measure": "access checks accepted that should be refused",
                "value": seen["accepted"],
                "of": seen["probes"],
                "should_be": 0,
                "note": f"{seen['routes probed']} routes; {detail}",
            }
        ],
        **seen,
        "public": sorted(probes.PUBLIC),
    }
