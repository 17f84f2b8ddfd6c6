"""The ``labelloop`` command line, run in-process by tests (typer's runner)."""

from __future__ import annotations

from typer.testing import CliRunner

from labelloop.ui.cli import app

runner = CliRunner()


def cli(*args: str) -> str:
    """A command's output; the command must succeed (its output is the failure message)."""
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def cli_words(*args: str) -> str:
    """A command's output on one line, its words single-spaced (rich wraps long lines)."""
    return " ".join(cli(*args).split())
