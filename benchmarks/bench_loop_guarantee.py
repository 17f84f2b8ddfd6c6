"""Does the calibration loop keep its promise? Simulations of the whole multi-round loop.

Each setting is a stream with KNOWN P(correct) per item, its model retrained between rounds
or not, and a calibration sample that grows as the prefix of one uniform draw order (by a
schedule, or by what each look asks for). Every round is a look of
``labelloop.route.calibrator.fit_and_choose`` at δ·2^-k; its threshold is deployed, and a draw fails
when any round's threshold has a true error (mean 1 - P(correct) over the items not in the
sample at or above it) above ε. The share of failing draws must stay at or below
δ + 3·√(δ(1-δ)/N). Rows marked "contrast" test every look at the full δ instead, to show
what splitting δ buys; they are not held to the bound. The simulation itself is
``tests/support/loop.py``; the suite runs smaller settings (``tests/flows/test_loop_guarantee.py``).

    python benchmarks/bench_loop_guarantee.py            # from the repository root
    python benchmarks/bench_loop_guarantee.py --quick    # 200 draws a setting
    python benchmarks/bench_loop_guarantee.py --via fit_and_choose   # no shortcut at all
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scipy import stats  # noqa: E402

from tests.support.loop import (  # noqa: E402
    VIAS,
    Growth,
    Setting,
    calibrated,
    curve,
    flat,
    non_monotone,
    overconfident,
    persistent,
    run_settings,
    slope,
    summary,
    two_signals,
    underconfident,
)

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "loop_guarantee.json"
SIX = (100, 200, 300, 400, 500, 600)
EIGHT = (150, 300, 450, 600, 750, 900, 1050, 1200)
FOUR = (200, 400, 600, 800)
TINY = (60, 90, 120, 150)
LARGE = tuple(range(250, 2001, 250))
WIDE = (200, 400, 600, 800, 1000, 1200)
UNIFORM, HIGH, CLAIMS = stats.uniform(), stats.beta(20, 1), stats.beta(50, 1)


def settings() -> list[Setting]:
    """Every setting, worst cases first."""
    ten, two = dict(epsilon=0.1, delta=0.1), dict(epsilon=0.02, delta=0.05)
    wide = dict(epsilon=0.05, delta=0.1)
    retrained = dict(shift=0.3, noise=0.5)
    return [
        Setting("flat 5.1%, 6 looks", partial(flat, 0.051), SIX),
        Setting("flat 5.1%, 6 looks [contrast]", partial(flat, 0.051), SIX, split=False),
        Setting(
            "flat 5.1%, retrained, anew, 8 looks",
            partial(flat, 0.051, rounds=8),
            EIGHT,
            coupling="round",
        ),
        Setting(
            "flat 5.1%, retrained, anew, 8 looks [contrast]",
            partial(flat, 0.051, rounds=8),
            EIGHT,
            coupling="round",
            split=False,
        ),
        Setting("flat 5.2%, 6 looks", partial(flat, 0.052), SIX),
        Setting("flat 5.1%, claims 98%, 6 looks", partial(flat, 0.051, claims=CLAIMS), SIX),
        Setting("flat 4.5% (below ε), 8 looks", partial(flat, 0.045), EIGHT),
        Setting(
            "slope crossing ε, retrained, 8 looks",
            partial(curve, slope, UNIFORM, rounds=8, noise=0.3),
            EIGHT,
        ),
        Setting(
            "overconfident, retrained, 6 looks",
            partial(curve, overconfident, HIGH, rounds=6, **retrained),
            SIX,
        ),
        Setting("underconfident, 6 looks", partial(curve, underconfident, UNIFORM), SIX),
        Setting(
            "calibrated, retrained, 6 looks",
            partial(curve, calibrated, HIGH, rounds=6, **retrained),
            SIX,
        ),
        Setting(
            "calibrated, retrained, 6 looks, min_items start",
            partial(curve, calibrated, HIGH, rounds=6, **retrained),
            SIX,
            start="min_items",
        ),
        Setting("non-monotone, 6 looks", partial(curve, non_monotone, stats.beta(8, 1)), SIX),
        Setting("two signals, retrained, 4 looks", partial(two_signals, rounds=4, gain=0.3), FOUR),
        Setting("two signals, flat 5.1%, 4 looks", partial(two_signals, flat_error=0.051), FOUR),
        Setting("tiny: flat 5.1%, 60-150", partial(flat, 0.051), TINY),
        Setting("tiny: slope, 60-150", partial(curve, slope, UNIFORM), TINY),
        Setting("tiny: overconfident, 60-150", partial(curve, overconfident, HIGH), TINY),
        Setting("grown: flat 5.1%, 6 looks", partial(flat, 0.051), Growth(100, 200, 1000, 6)),
        Setting(
            "grown: overconfident, retrained, 6 looks",
            partial(curve, overconfident, HIGH, rounds=6, **retrained),
            Growth(100, 300, 1500, 6),
        ),
        Setting(
            "grown: two signals, retrained, 4 looks",
            partial(two_signals, rounds=4, gain=0.3),
            Growth(200, 300, 1400, 4),
        ),
        # the active queue takes 200 items after each look, and passes drawn items by their
        # shadow place in its order (any acceptance fails the flat settings)
        Setting(
            "active queue: flat 5.1%, retrained, anew, 6 looks",
            partial(flat, 0.051, rounds=6),
            SIX,
            coupling="round",
            active=200,
        ),
        Setting(
            "active queue: flat 5.1%, grown, 6 looks",
            partial(flat, 0.051, rounds=6),
            Growth(100, 200, 1000, 6),
            active=200,
        ),
        Setting(
            "active queue: hard items stay hard, 6 looks",
            partial(persistent, rounds=6),
            SIX,
            active=200,
        ),
        Setting(
            "active queue: hard items stay hard, noisier, grown, 6 looks",
            partial(persistent, rounds=6, noise=1.5, bias=2.5),
            Growth(150, 300, 1500, 6),
            active=200,
        ),
        Setting(
            "active queue: slope, retrained, 8 looks",
            partial(curve, slope, UNIFORM, rounds=8, **retrained),
            EIGHT,
            active=200,
        ),
        Setting(
            "active queue: two signals, retrained, 4 looks",
            partial(two_signals, rounds=4, gain=0.3),
            FOUR,
            active=200,
        ),
        Setting("10,000 items: flat 5.1%, 8 looks", partial(flat, 0.051, 10_000), LARGE),
        Setting(
            "10,000 items: slope, retrained, 8 looks",
            partial(curve, slope, UNIFORM, 10_000, rounds=8, noise=0.3),
            LARGE,
        ),
        Setting("flat 10.2%, 6 looks", partial(flat, 0.102), SIX, **ten),
        Setting(
            "flat 10.2%, retrained, anew, 6 looks",
            partial(flat, 0.102, rounds=6),
            SIX,
            coupling="round",
            **ten,
        ),
        Setting("overconfident, 6 looks", partial(curve, overconfident, HIGH), SIX, **ten),
        Setting("tiny: flat 10.2%, 60-150", partial(flat, 0.102), TINY, **ten),
        Setting("flat 2.1%, 6 looks", partial(flat, 0.021), WIDE, **two),
        Setting("underconfident, 6 looks", partial(curve, underconfident, UNIFORM), WIDE, **two),
        Setting("flat 5.1%, 6 looks", partial(flat, 0.051), SIX, **wide),
        Setting("slope crossing ε, 6 looks", partial(curve, slope, UNIFORM), SIX, **wide),
    ]


def _fmt(x: float, spec: str = ".3f") -> str:
    return format(x, spec)


def print_table(rows: list[dict]) -> None:
    head = f"{'setting':48}{'ε':>6}{'δ':>6}{'draws':>7}{'failing':>9}{'bound':>7}"
    head += f"{'ok':>5}{'certified':>10}{'coverage':>9}{'oracle':>8}{'pairs':>7}{'cpu s':>7}"
    print(head)
    for r in rows:
        ok = "-" if not r["delta_split"] else ("yes" if r["failing"] <= r["bound"] else "NO")
        line = f"{r['setting']:48}{r['epsilon']:>6g}{r['delta']:>6g}{r['draws']:>7}"
        line += f"{_fmt(r['failing']):>9}{_fmt(r['bound']):>7}{ok:>5}"
        line += f"{_fmt(r['certified_last'], '.2f'):>10}{_fmt(r['coverage_last']):>9}"
        line += f"{_fmt(r['oracle_last']):>8}{r['pairs_last']:>7.0f}{r['seconds']:>7.0f}"
        print(line)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--draws", type=int, default=2000, help="simulated loops per setting")
    p.add_argument("--quick", action="store_true", help="200 draws a setting")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument(
        "--via",
        choices=VIAS,
        default="walk",
        help="walk: one-signal settings through the walk fit_and_choose runs for them (the "
        "same thresholds, checked draw by draw in the suite, a few times faster), several "
        "signals through fit_and_choose; fit_and_choose: every setting through it",
    )
    p.add_argument("--only", default="", help="settings whose name contains this")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    draws = 200 if args.quick else args.draws
    chosen = [s for s in settings() if args.only in s.name]

    def via(s: Setting) -> str:
        return "walk" if args.via == "walk" and s.population().single else "fit_and_choose"

    start = time.perf_counter()
    done = run_settings(chosen, draws, seed=args.seed, via=via, workers=args.workers)
    wall = time.perf_counter() - start
    rows = [summary(o) for o in done]
    print_table(rows)
    print(f"\n{len(rows)} settings, {draws} draws each, {wall:.0f} s on {args.workers} workers")
    held = all(r["failing"] <= r["bound"] for r in rows if r["delta_split"])
    result = {
        "draws": draws,
        "seed": args.seed,
        "via": args.via,
        "workers": args.workers,
        "seconds": round(wall, 1),
        "held": held,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "settings": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if held else 1


if __name__ == "__main__":
    raise SystemExit(main())
