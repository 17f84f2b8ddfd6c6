"""Errors that reach users: each says what went wrong and how to fix it."""

from __future__ import annotations


class LabelloopError(Exception):
    """Base for errors shown to users as one line at the CLI and UI boundary."""


class InputError(LabelloopError):
    """Bad user input in a file: names the file, the line and the fix."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        self.detail = message
        where = path or ""
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


class GuidelineError(InputError):
    """A guideline file that cannot be parsed."""


class ImportFileError(InputError):
    """An import file refused as a whole."""


class ConfigError(LabelloopError):
    """A missing or invalid project configuration."""


class StoreError(LabelloopError):
    """The store cannot be opened or migrated."""


class AccessDenied(LabelloopError, PermissionError):
    """The acting user may not do this: unknown, disabled, or not an admin."""


class ReviewConflict(LabelloopError):
    """A decision on an item the reviewer does not hold (lease expired, another tab, ...)."""


class RunLocked(LabelloopError):
    """Another live process holds the run this one was to start (``label:MODEL``)."""
