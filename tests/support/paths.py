"""Where the repository and the tests' data are."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
FIXTURES = TESTS / "fixtures"
CASSETTES = TESTS / "cassettes"
