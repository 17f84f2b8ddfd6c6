"""What the console writes on the host: exports in a private folder, deleted after the
retention and when the console stops; uploads refused unless a limit allows them."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import httpx

from labelloop.core.types import Route
from tests.support.console import guideline_text as guideline
from tests.support.console import make_project, seed, served, texts
from tests.support.console_probes import call, signed_in

USERS = [("rita", "reviewer"), ("ada", "admin")]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def private_root(path: Path) -> Path:
    return next(p for p in path.parents if p.name.startswith("labelloop-console-"))


def export_path(client: httpx.Client) -> Path:
    """Export from the dashboard as the page does; the file Gradio serves for download."""
    deps = {d["api_name"]: d for d in client.get("/config").json()["dependencies"]}
    done = call(client, deps["export_file"])
    assert done["success"] is True, done
    shown = done["output"]["data"][0]  # the file box is shown with the file in it
    assert shown.get("visible") is True, shown
    return Path(shown["value"]["path"])


def test_exports_are_private_and_deleted_after_the_retention_and_at_shutdown(tmp_path):
    project = make_project(
        tmp_path, guideline(("refund", "other")), USERS, export_retention_minutes=0.03
    )  # 1.8 s
    seed(project, texts("fx", 3, route=Route.ACTIVE))
    with served(project) as url, signed_in(url, "ada") as admin:
        served_copy = export_path(admin)
        root = private_root(served_copy)
        written = [p for p in root.rglob("*.jsonl") if p != served_copy]
        assert mode(root) == 0o700 and mode(served_copy) == 0o600
        assert written and all(mode(p) == 0o600 for p in written)
        download = admin.get(f"/gradio_api/file={served_copy}")
        assert download.status_code == 200 and b'"fx00"' in download.content
        deadline = time.monotonic() + 10
        # each sweep deletes what is past the retention: the copies may go in two sweeps
        while any(p.exists() for p in (served_copy, *written)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not served_copy.exists() and not any(p.exists() for p in written)
        assert root.exists()  # the folder stays while the console runs
        again = export_path(admin)
    assert not root.exists() and not again.exists()  # the console stopped: all gone


def upload(client: httpx.Client, size: int) -> httpx.Response:
    return client.post("/gradio_api/upload", files={"files": ("notes.txt", b"x" * size)})


def test_uploads_are_refused_by_default(tmp_path):
    project = make_project(tmp_path, guideline(("refund", "other")), USERS)
    with served(project) as url, signed_in(url, "rita") as reviewer:
        for size in (0, 1, 10_000):
            refused = upload(reviewer, size)
            assert refused.status_code == 413 and "max_upload_kb" in refused.text
        files = reviewer.post(
            "/gradio_api/component_server", files={"file": ("a.txt", b"x")}, data={"x": "1"}
        )
        assert files.status_code == 413


def test_uploads_up_to_the_limit_are_kept_privately_and_larger_refused(tmp_path):
    project = make_project(tmp_path, guideline(("refund", "other")), USERS, max_upload_kb=64)
    with served(project) as url, signed_in(url, "rita") as reviewer:
        accepted = upload(reviewer, 10_000)
        assert accepted.status_code == 200, accepted.text
        kept = Path(accepted.json()[0])
        assert kept.stat().st_size == 10_000 and mode(kept) == 0o600
        assert mode(private_root(kept)) == 0o700
        refused = upload(reviewer, 100_000)
        assert refused.status_code == 413
    assert not kept.exists()
