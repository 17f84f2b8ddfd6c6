#!/usr/bin/env bash
# The invariant machine of tests/flows/test_invariants.py, explored deeper than the suite does:
# N random runs (default 200) of 40 steps each, on SQLite and PostgreSQL, with statistics.
#   benchmarks/explore_invariants.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
LABELLOOP_EXPLORE="${1:-200}" exec python -m pytest -q -p no:cacheprovider --timeout=0 \
  tests/flows/test_invariants.py -k "Loop" --hypothesis-show-statistics
