"""The lead's dashboard as HTML: the top (numbers and three small plots, readable at
1280×720) and the details folded below. Label, reviewer and model names are shown as
written; every value is escaped."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from datetime import datetime

from labelloop.ui.render import esc, value_html

#: the queues a burndown follows: the items waiting for people
WAITING = ("calibration", "active", "audit", "adjudication")
#: size of each small plot, in inches at 100 dpi
PLOT_SIZE = (4.0, 2.3)


def top_html(top: Mapping) -> str:
    """Numbers in a row of tiles, the guarantee sentence, then the small plots."""
    tiles = [
        _progress_tile(top["progress"]),
        _agreement_tile(top["agreement"]),
        _certified_tile(top["certified"]),
        _alarm_tile(top["audit_alarm"]),
        _cost_tile(top["cost"]),
    ]
    guarantee = top["certified"].get("guarantee")
    sentence = f'<p class="ll-dash-guarantee">{esc(guarantee)}</p>' if guarantee else ""
    plots = [
        ("burndown: items waiting per queue", burndown_png(top["progress"]["burndown"])),
        ("reviews per day (UTC) per reviewer", pace_png(top["pace"])),
        ("agreement per week (95% intervals)", agreement_png(top["agreement"])),
    ]
    figures = "".join(_figure(name, png) for name, png in plots if png)
    since = top["progress"]["since"]
    note = f"route history since {_when(since)}" if since else "no route history yet"
    return (
        f'<div class="ll-dash-top"><div class="ll-tiles">{"".join(tiles)}</div>{sentence}'
        f'<div class="ll-dash-plots">{figures}</div>'
        f'<div class="ll-dash-note">{esc(note)}</div></div>'
    )


def details_html(details: Mapping, plots: Mapping[str, bytes]) -> str:
    """Each part of the details as a table whose keys are shown as they are stored (label
    and reviewer names as written), then the eval report's plots."""
    parts = "".join(
        f"<section><h4>{esc(name)}</h4>{value_html(value, str)}</section>"
        for name, value in details.items()
    )
    figures = "".join(_figure(name, png) for name, png in plots.items())
    return f'<div class="ll-dashboard">{parts}<div class="ll-plots">{figures}</div></div>'


# --- tiles -------------------------------------------------------------------------------


def _tile(title: str, big: str, small: str = "", cls: str = "") -> str:
    return (
        f'<div class="ll-tile {cls}"><div class="ll-tile-title">{esc(title)}</div>'
        f'<div class="ll-tile-big">{esc(big)}</div>'
        f'<div class="ll-tile-small">{esc(small)}</div></div>'
    )


def _progress_tile(p: Mapping) -> str:
    routes, queues = p["routes"], p["queues"]
    done = routes.get("reviewed", 0) + routes.get("auto_accepted", 0)
    waiting = sum(queues.get(q, 0) for q in WAITING)
    share = f"{done / p['items']:.0%} done" if p["items"] else "no items yet"
    per_queue = " · ".join(f"{q} {queues.get(q, 0)}" for q in WAITING)
    small = f"{done} of {p['items']} items decided; {waiting} waiting: {per_queue}"
    return _tile("progress", share, small)


def _agreement_tile(a: Mapping) -> str:
    vs = a.get("model_vs_people") or {}
    people = a["people"]
    model = f"{a['model_name']} vs people: {_ci(vs.get('accuracy'))} (n={vs.get('n', 0)})"
    pair = f"people vs people: {_ci(people.get('percent_agreement'))} (n={people['items']})"
    big = _pct((vs.get("accuracy") or {}).get("value"))
    return _tile(f"agreement ({a['model_name']})", big, f"{model}; {pair}")


def _certified_tile(c: Mapping) -> str:
    if not c["calibrated"] or c["threshold"] is None:
        return _tile("certified coverage", "none yet", f"{c['pairs']} calibration pairs")
    eps, delta = c.get("epsilon"), c.get("delta")
    target = f"error ≤ {eps:g}" if eps is not None else ""
    target += f" with probability ≥ {1 - delta:g}" if target and delta is not None else ""
    small = f"{c['auto_accepted']} items auto-accepted at threshold {c['threshold']:.3f}"
    return _tile("certified coverage", _pct(c["coverage"]), f"{target}; {small}".strip("; "))


def _alarm_tile(alarm: Mapping) -> str:
    if not alarm.get("active"):
        return _tile("audit alarm", "quiet", "audited labels err no more than promised")
    small = f"{alarm.get('wrong')} wrong of {alarm.get('audited')} audited ({alarm.get('model')})"
    return _tile("audit alarm", "RAISED", small, "ll-alarm")


def _cost_tile(cost: Mapping) -> str:
    by = ", ".join(f"{m} ${usd:.2f}" for m, usd in cost["by_model"].items())
    small = f"{cost['calls']} calls, {cost['tokens']} tokens" + (f"; {by}" if by else "")
    return _tile("cost", f"${cost['usd']:.2f}", small)


def _ci(x: Mapping | None) -> str:
    if not x or x.get("value") is None:
        return "n/a"
    if x.get("lo") is None:
        return _pct(x["value"])
    return f"{_pct(x['value'])} [{_pct(x['lo'])}–{_pct(x['hi'])}]"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0%}"


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


# --- plots -------------------------------------------------------------------------------


def burndown_png(points: Sequence[Mapping]) -> bytes | None:
    """Items waiting in each review queue over time (the route history and now)."""
    if len(points) < 2:
        return None
    fig, ax = _small()
    x = [p["at"] for p in points]
    for q in WAITING:
        ax.plot(x, [p["queues"].get(q, 0) for p in points], label=q, drawstyle="steps-post")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper right")
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=6)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return _png(fig)


def pace_png(pace: Mapping) -> bytes | None:
    """Decisions per day, a bar segment per reviewer."""
    if not pace["reviewers"]:
        return None
    fig, ax = _small()
    days = [d[5:] for d in pace["days"]]
    bottom = [0] * len(days)
    for who, counts in pace["reviewers"].items():
        ax.bar(days, counts, bottom=bottom, label=who)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.legend(fontsize=7, loc="upper left")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    return _png(fig)


def agreement_png(a: Mapping) -> bytes | None:
    """The model vs people (accuracy) and people vs people per week, with intervals."""
    series = [
        (f"{a['model_name']} vs people", a["model_weekly"], "accuracy"),
        ("people vs people", a["people_weekly"], "percent_agreement"),
    ]
    if not any(weeks for _, weeks, _ in series):
        return None
    fig, ax = _small()
    for name, weeks, key in series:
        if not weeks:
            continue
        x = [w["week"] for w in weeks]
        y = [w[key]["value"] for w in weeks]
        lo = [_or(w[key]["lo"], v) for w, v in zip(weeks, y, strict=True)]
        hi = [_or(w[key]["hi"], v) for w, v in zip(weeks, y, strict=True)]
        ax.plot(x, y, marker="o", label=name)
        ax.fill_between(x, lo, hi, alpha=0.2)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower left")
    ax.tick_params(axis="x", labelsize=7)
    return _png(fig)


def _or(x, default):
    return default if x is None else x


def _small():
    # the object API with the Agg canvas: no pyplot, no global backend switch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=PLOT_SIZE, dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)
    return fig, ax


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _figure(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure class="ll-plot"><img alt="{esc(name)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(name)}</figcaption></figure>"
    )
