"""The lead's dashboard as HTML: the top (numbers and three small plots, readable at
1280×720) and the details folded below. Label, reviewer and model names are shown as
written; every value is escaped."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from labelloop.review.dashboard import PLOT_SEP
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
        (_agreement_caption(top["agreement"]), agreement_png(top["agreement"])),
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
    and reviewer names as written), then the eval report's plots. A guideline's questions
    (``evaluation`` as ``{"questions": {name: figures}}``) fold one by one, each titled
    with the question's name and holding its own plots."""
    questions = list(_questions(details.get("evaluation")))
    owned = {name: plot_question(name, questions) for name in plots}
    parts = "".join(
        _question_sections(name, value["questions"], plots, owned)
        if name == "evaluation" and questions
        else f"<section><h4>{esc(name)}</h4>{value_html(value, str)}</section>"
        for name, value in details.items()
    )
    figures = "".join(_figure(name, png) for name, png in plots.items() if owned[name] is None)
    return f'<div class="ll-dashboard">{parts}<div class="ll-plots">{figures}</div></div>'


def plot_question(name: str, questions: Sequence[str]) -> str | None:
    """The question a plot is named after ("category: confusion matrix"), None if none;
    the longest name that fits, so "a" never claims "a: b"'s plots."""
    fits = [q for q in questions if name.startswith(f"{q}{PLOT_SEP}")]
    return max(fits, key=len) if fits else None


def _questions(evaluation: object) -> Mapping:
    if isinstance(evaluation, Mapping) and isinstance(evaluation.get("questions"), Mapping):
        return evaluation["questions"]
    return {}


def _question_sections(
    name: str,
    per: Mapping[str, object],
    plots: Mapping[str, bytes],
    owned: Mapping[str, str | None],
) -> str:
    """One folded part per question, titled with its name: its figures, then its plots
    (named without the question, which the title says)."""
    folds = []
    for q, figures in per.items():
        mine = "".join(
            _figure(p.removeprefix(f"{q}{PLOT_SEP}"), png)
            for p, png in plots.items()
            if owned[p] == q
        )
        folds.append(
            f'<details class="ll-question"><summary>{esc(q)}</summary>'
            f'{value_html(figures, str)}<div class="ll-plots">{mine}</div></details>'
        )
    return f"<section><h4>{esc(name)} per question</h4>{''.join(folds)}</section>"


# --- tiles -------------------------------------------------------------------------------


def _tile(title: str, big: str, small: str | Sequence[str] = "", cls: str = "") -> str:
    """A tile; ``small``: a line, or several (one a row)."""
    if isinstance(small, str):
        small_html = esc(small)
    else:
        small_html = "".join(f"<div>{esc(line)}</div>" for line in small)
    return (
        f'<div class="ll-tile {cls}"><div class="ll-tile-title">{esc(title)}</div>'
        f'<div class="ll-tile-big">{esc(big)}</div>'
        f'<div class="ll-tile-small">{small_html}</div></div>'
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
    if "questions" in a:
        return _questions_tile(a)
    vs = a.get("model_vs_people") or {}
    people = a["people"]
    model = f"{a['model_name']} vs people: {_ci(vs.get('accuracy'))} (n={vs.get('n', 0)})"
    pair = f"people vs people: {_ci(people.get('percent_agreement'))} (n={people['items']})"
    big = _pct((vs.get("accuracy") or {}).get("value"))
    return _tile(f"agreement ({a['model_name']})", big, f"{model}; {pair}")


def _questions_tile(a: Mapping) -> str:
    """A guideline's questions: the range of the model's accuracy over them, then a line
    per question (its name as written)."""
    per = a["questions"]
    values = [v for q in per.values() if (v := _accuracy(q)) is not None]
    low, high = (min(values), max(values)) if values else (None, None)
    big = _pct(low) if low == high else f"{_pct(low)}–{_pct(high)}"
    lines = [question_line(q, x) for q, x in per.items()]
    return _tile(f"agreement per question ({a['model_name']})", big, lines)


def question_line(question: str, a: Mapping) -> str:
    """One question's agreement on a line: the model's accuracy and kappa against the
    people's consensus, then people against each other, with 95% intervals and counts."""
    vs = a.get("model_vs_people") or {}
    people = a["people"]
    kappa = f", κ {_ci(vs['cohen_kappa'], _num)}" if vs.get("cohen_kappa") else ""
    model = f"model {_short_ci(vs.get('accuracy'))}{kappa} n={vs.get('n', 0)}"
    pair = f"people {_pct((people.get('percent_agreement') or {}).get('value'))}"
    return f"{question}: {model} · {pair} n={people['items']}"


def _short_ci(x: Mapping | None) -> str:
    """A share with its interval, the percent sign once: "75% [25–100%]"."""
    if not x or x.get("value") is None or x.get("lo") is None:
        return _ci(x)
    return f"{_pct(x['value'])} [{x['lo'] * 100:.0f}–{_pct(x['hi'])}]"


def _accuracy(a: Mapping) -> float | None:
    return ((a.get("model_vs_people") or {}).get("accuracy") or {}).get("value")


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


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0%}"


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _ci(x: Mapping | None, fmt: Callable[[float | None], str] = _pct) -> str:
    if not x or x.get("value") is None:
        return "n/a"
    if x.get("lo") is None:
        return fmt(x["value"])
    return f"{fmt(x['value'])} [{fmt(x['lo'])}–{fmt(x['hi'])}]"


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
    """The model vs people (accuracy) and people vs people per week, with intervals; for
    a guideline's questions a colour per question (the model solid, people dashed)."""
    series = agreement_series(a)
    if not any(s["weeks"] for s in series):
        return None
    fig, ax = _small()
    order = sorted({w["week"] for s in series for w in s["weeks"]})
    at = {week: k for k, week in enumerate(order)}  # every series on one week axis
    for s in series:
        weeks, key = s["weeks"], s["key"]
        if not weeks:
            continue
        x = [at[w["week"]] for w in weeks]
        y = [w[key]["value"] for w in weeks]
        style = {"color": s["color"], "linestyle": s["style"], "marker": s["marker"]}
        hollow = {"markerfacecolor": "none"} if s["marker"] != "o" else {}
        ax.plot(x, y, label=s["name"], **style, **hollow)
        if s["band"]:
            lo = [_or(w[key]["lo"], v) for w, v in zip(weeks, y, strict=True)]
            hi = [_or(w[key]["hi"], v) for w, v in zip(weeks, y, strict=True)]
            ax.fill_between(x, lo, hi, alpha=0.2, color=s["color"])
    ax.set_xticks(range(len(order)), order)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7 if len(series) <= 2 else 6, loc="lower left")
    ax.tick_params(axis="x", labelsize=7)
    return _png(fig)


def agreement_series(a: Mapping) -> list[dict]:
    """The agreement plot's lines: name, weekly points, the figure they hold, colour, line
    style, marker and whether its interval is drawn. A single task: the model and people,
    each with its band; questions: per question (named as written) the model with its band
    and people dashed with hollow squares, in the question's colour."""
    if "questions" not in a:
        return [
            _line(f"{a['model_name']} vs people", a["model_weekly"], "accuracy", "C0"),
            _line("people vs people", a["people_weekly"], "percent_agreement", "C1"),
        ]
    lines = []
    for k, (q, x) in enumerate(a["questions"].items()):
        lines.append(_line(f"{q}: model", x["model_weekly"], "accuracy", f"C{k % 10}"))
        people = _line(f"{q}: people", x["people_weekly"], "percent_agreement", f"C{k % 10}")
        lines.append({**people, "style": "--", "marker": "s", "band": False})
    return lines


def _line(name: str, weeks: Sequence[Mapping], key: str, color: str) -> dict:
    return {
        "name": name,
        "weeks": weeks,
        "key": key,
        "color": color,
        "style": "-",
        "marker": "o",
        "band": True,
    }


def _agreement_caption(a: Mapping) -> str:
    if "questions" in a:
        return "agreement per week per question (95% intervals)"
    return "agreement per week (95% intervals)"


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
