"""The files a console hands out or takes in, kept where only its own user can read them.

Each console process gets a folder of its own in the system temp folder, created 0700:
exports are written there (0600) before Gradio copies them into its cache for download, and
Gradio's cache and upload folder are a subfolder of it (Gradio would otherwise use a shared
``/tmp/gradio`` that anyone on the host can list and read, and never empty). Files older
than ``[review] export_retention_minutes`` are deleted while the console runs, and the whole
folder when it stops.

Uploads: the console has no upload field, so by default (``[review] max_upload_kb = 0``)
every ``multipart/form-data`` request is refused, Gradio's upload route included; a limit
above 0 lets files up to that size through, into the same private folder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

#: how often the folder is swept: a quarter of the retention, within these bounds (seconds)
SWEEP_BOUNDS = (0.25, 60.0)


class ConsoleFiles:
    """One console's private folder: exports, Gradio's cache, uploads; swept and removed."""

    def __init__(self, retention_minutes: float, parent: str | Path | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="labelloop-console-", dir=parent))  # 0700
        self.retention = retention_minutes * 60.0
        # removed however the console ends (the lifespan, or the interpreter exiting)
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)

    @property
    def cache(self) -> Path:
        """Gradio's cache and upload folder."""
        return self.root / "gradio"

    def new_export(self, name: str) -> Path:
        """A path for an export, in a folder of its own (0700) inside the private folder."""
        return Path(tempfile.mkdtemp(prefix="export-", dir=self.root)) / name

    @staticmethod
    def seal(path: Path) -> Path:
        """Make a written export (a file, or a folder such as the ``hf`` one, and whatever
        was written beside it) readable by its owner only: files 0600, folders 0700."""
        folder = path.parent
        for current, dirs, files in os.walk(folder):
            for name in dirs:
                os.chmod(Path(current) / name, 0o700)
            for name in files:
                os.chmod(Path(current) / name, 0o600)
        return path

    def sweep(self, now: float | None = None) -> int:
        """Delete files (and empty folders) older than the retention; how many files."""
        cutoff = (time.time() if now is None else now) - self.retention
        removed = 0
        for folder, dirs, files in os.walk(self.root, topdown=False):
            for name in files:
                removed += _remove_if_older(Path(folder) / name, cutoff)
            for name in dirs:
                path = Path(folder) / name
                try:
                    if path.stat().st_mtime < cutoff:
                        path.rmdir()  # refuses a folder that still holds something
                except OSError:
                    pass
        return removed

    def close(self) -> None:
        """Delete the whole folder."""
        self._finalizer()

    @contextmanager
    def as_gradio_cache(self) -> Iterator[None]:
        """Build and mount the Blocks inside this: each component (and the upload route)
        takes its cache folder from ``GRADIO_TEMP_DIR`` when it is created."""
        before = os.environ.get("GRADIO_TEMP_DIR")
        os.environ["GRADIO_TEMP_DIR"] = str(self.cache)
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("GRADIO_TEMP_DIR", None)
            else:
                os.environ["GRADIO_TEMP_DIR"] = before

    @asynccontextmanager
    async def lifespan(self, _app) -> AsyncIterator[None]:
        """The web app's lifespan: sweep while it serves, delete everything when it stops."""
        task = asyncio.create_task(self._sweeping())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.close()

    async def _sweeping(self) -> None:
        low, high = SWEEP_BOUNDS
        every = min(max(self.retention / 4, low), high)
        while True:
            await asyncio.sleep(every)
            await asyncio.to_thread(self.sweep)


def _remove_if_older(path: Path, cutoff: float) -> int:
    try:
        if path.lstat().st_mtime < cutoff:
            path.unlink()
            return 1
    except OSError:  # gone already, or being replaced
        pass
    return 0


class UploadGuard:
    """Refuses file uploads (``multipart/form-data`` requests) while uploads are off."""

    def __init__(self, app: ASGIApp, allowed: bool):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allowed and _is_multipart(scope):
            refused = PlainTextResponse(
                "This console takes no file uploads ([review] max_upload_kb = 0)", 413
            )
            return await refused(scope, receive, send)
        await self.app(scope, receive, send)


def _is_multipart(scope: Scope) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"multipart/form-data"
    return False
