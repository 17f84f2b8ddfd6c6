"""Eval report figures as Markdown, HTML (every data-derived string escaped) and PNG plots."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from labelloop.evals.calibration import _figure, _save, plot_reliability, plot_risk_coverage
from labelloop.evals.judging import plot_rankings, plot_win_rates

Section = tuple[str, list[str], list[list[str]]]  # title, header, rows


def fmt(x: Any) -> str:
    """A number or a {value, lo, hi} figure as short text."""
    if isinstance(x, dict) and "value" in x:
        if x["value"] is None:
            return "n/a"
        ci = f" [{x['lo']:.3f}, {x['hi']:.3f}]" if x["lo"] is not None else ""
        return f"{x['value']:.3f}{ci}"
    if x is None:
        return "n/a"
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def sections(fig: dict) -> list[Section]:
    """The report's tables, as plain strings."""
    out: list[Section] = []
    judged = JUDGED.get(fig["kind"])
    for model, m in fig["models"].items():
        c = m["vs_consensus"]
        if judged is None:
            rows = [["consensus", str(c["n"]), fmt(c["accuracy"]), _second(c)]]
            rows += [
                [f"reviewer {who}", str(r["n"]), fmt(r["accuracy"]), _second(r)]
                for who, r in m["vs_reviewers"].items()
            ]
            header = ["against", "items", "accuracy", "kappa / F1"]
        else:
            rows = [["consensus", str(c["n"]), *_judged(c, judged)]]
            rows += [
                [f"reviewer {who}", str(r["n"]), *_judged(r, judged)]
                for who, r in m["vs_reviewers"].items()
            ]
            header = ["against", "items", "accuracy", *(title for _, title in judged)]
        out.append((f"Model {model} vs people", header, rows))
        if m.get("per_label"):
            rows = [
                [str(label), fmt(v["precision"]), fmt(v["recall"]), fmt(v["f1"]), str(v["support"])]
                for label, v in m["per_label"].items()
                if v["support"] or v["precision"]
            ]
            out.append((f"Model {model} per label", ["label", "P", "R", "F1", "support"], rows))
        rows = [[w["week"], str(w["n"]), fmt(w["accuracy"])] for w in m["weekly"]]
        out.append((f"Model {model} weekly", ["week", "items", "accuracy"], rows))
        cal = m["calibration"]
        rows = [
            ["scored items", str(cal["n"])],
            ["ECE", fmt(cal["ece"])],
            ["Brier", fmt(cal["brier"])],
            [f"coverage at {cal['target_accuracy']:.0%} accuracy", fmt(cal["coverage_at_target"])],
            ["threshold", fmt(cal["threshold_at_target"])],
        ]
        out.append((f"Model {model} calibration", ["figure", "value"], rows))
        if "position_bias" in m:
            out.append((f"Model {model} position bias", ["figure", "value"], _bias_rows(m)))
    h = fig["humans"]
    rows = [
        [p["a"], p["b"], str(p["n"]), fmt(p["percent_agreement"]), fmt(p.get("cohen_kappa"))]
        for p in h["pairs"]
    ]
    out.append(("Reviewer pairs", ["a", "b", "items", "agreement", "Cohen's kappa"], rows))
    overall = h["overall"]
    rows = [[k, fmt(v)] for k, v in overall.items() if k != "alpha_level"]
    if "alpha_level" in overall:
        rows.append(["alpha level", overall["alpha_level"]])
    out.append(
        (f"Reviewers overall ({h['items']} items with 2+ reviewers)", ["figure", "value"], rows)
    )
    if judged is not None and "judging" in h:
        out.append(_against_others(h["judging"], judged))
    if "rankings" in fig:
        out += _ranking_sections(fig["rankings"])
    return out


#: a judging kind's figures beside accuracy: (key, column title)
JUDGED: dict[str, list[tuple[str, str]]] = {
    "pairwise": [("cohen_kappa", "Cohen's kappa")],
    "rating": [("krippendorff_alpha", "alpha (ordinal)"), ("mean_abs_distance", "mean |gap|")],
    "ranking": [("mean_kendall_distance", "mean Kendall distance")],
}
#: how each source of the model rankings is named in the report
SOURCE_TITLES = {"people": "people", "judge": "judge", "final": "final labels"}


def _judged(r: dict, judged: list[tuple[str, str]]) -> list[str]:
    return [fmt(r["accuracy"]), *(fmt(r.get(key)) for key, _ in judged)]


def _bias_rows(m: dict) -> list[list[str]]:
    b = m["position_bias"]
    return [
        ["suggestions judged in both orders", str(b["n"])],
        ["verdicts that changed with the order", str(b["disagree"])],
        ["position-bias rate", fmt(b["rate"])],
        ["order agreement unknown (not counted)", str(b["unknown"])],
    ]


def _against_others(j: dict, judged: list[tuple[str, str]]) -> Section:
    rows = [["votes compared", str(j["n"])], ["accuracy", fmt(j["accuracy"])]]
    rows += [[title, fmt(j.get(key))] for key, title in judged]
    rows += [["pair agreement", fmt(j["pair_agreement"])], ["pool alpha", fmt(j["pool_alpha"])]]
    title = f"Reviewers against the others' consensus ({j['items']} items with 2+ reviewers)"
    return title, ["figure", "value"], rows


def source_title(name: str, rankings: dict) -> str:
    """A source of the model rankings as the report names it ("judge" names its model)."""
    if name == "judge" and rankings.get("judge"):
        return f"judge {rankings['judge']}"
    return SOURCE_TITLES.get(name, name)


def _score(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"


def _ranking_sections(r: dict) -> list[Section]:
    out: list[Section] = []
    for name, source in r["sources"].items():
        if not source["scores"]:
            continue
        title = f"{source_title(name, r)} ({source['battles']} battles)"
        rows = [
            [str(k), model, _score(v["score"]), _interval(v), str(v["battles"])]
            for k, (model, v) in enumerate(source["scores"].items(), 1)
        ]
        out.append(
            (f"Model ranking: {title}", ["rank", "model", "score", "95% CI", "battles"], rows)
        )
        models, matrix = source["win_rates"]["models"], source["win_rates"]["matrix"]
        rows = [[row_model, *map(fmt, row)] for row_model, row in zip(models, matrix, strict=True)]
        out.append((f"Win rates (row vs column): {title}", ["model", *models], rows))
    return out


def _interval(v: dict) -> str:
    if v["lower"] is None:
        return "n/a"
    return f"[{_score(v['lower'])}, {_score(v['upper'])}]"


def ranking_lines(r: dict) -> list[str]:
    """What the model rankings rest on, and what they leave out, as sentences."""
    lines = []
    if any(s["battles"] for s in r["sources"].values()):
        made = r["final_from"]
        people = made.get("human", 0) + made.get("adjudicated", 0)
        lines.append(
            "Model rankings: Bradley-Terry scores (Elo-like, mean 1000; 400 points are 10:1 "
            f"odds), 95% bootstrap intervals over battles ({r['n_boot']} resamples). People: "
            "each person's vote a battle; judge: "
            + (f"{r['judge']}'s verdicts" if r["judge"] else "none")
            + f"; final labels: as exported ({people} decided by people, "
            f"{made.get('model', 0)} auto-accepted verdicts). A rating or ranking gives a "
            "battle per pair of replies; ties count half a win each."
        )
    return lines + skipped_lines(r)


def skipped_lines(r: dict) -> list[str]:
    """The items left out of the model rankings because their replies name no model."""
    if not r["items_without_models"]:
        return []
    return [
        f"{r['items_without_models']} of {r['items']} items skipped from the model rankings: "
        "their replies name no model."
    ]


def judging_summary(fig: dict) -> list[str]:
    """A judging task's figures as plain lines (the command line's summary); none for other
    tasks."""
    judged = JUDGED.get(fig["kind"])
    if judged is None:
        return []
    lines = []
    for model, m in fig["models"].items():
        c = m["vs_consensus"]
        figures = ", ".join(f"{title} {fmt(c.get(key))}" for key, title in judged)
        lines.append(
            f"Judge {model} vs consensus: {c['n']} items, accuracy {fmt(c['accuracy'])}, " + figures
        )
        if "position_bias" in m:
            b = m["position_bias"]
            lines.append(
                f"Judge {model} position bias: {b['disagree']} of {b['n']} suggestions judged "
                f"in both orders changed verdict, rate {fmt(b['rate'])}; {b['unknown']} with "
                "the order agreement unknown"
            )
    j = fig["humans"].get("judging")
    if j is not None:
        figures = ", ".join(f"{title} {fmt(j.get(key))}" for key, title in judged)
        lines.append(
            f"People vs the others' consensus: {j['n']} votes on {j['items']} items, accuracy "
            f"{fmt(j['accuracy'])}, {figures}; pair agreement {fmt(j['pair_agreement'])}, "
            f"pool alpha {fmt(j['pool_alpha'])}"
        )
    r = fig.get("rankings")
    if r is not None:
        for name, source in r["sources"].items():
            ranked = " > ".join(
                f"{model} {_score(v['score'])} {_interval(v)}"
                for model, v in source["scores"].items()
            )
            if ranked:
                title = f"{source_title(name, r)} ({source['battles']} battles)"
                lines.append(f"Model ranking, {title}: {ranked}")
        lines += skipped_lines(r)
    return lines


def _second(r: dict) -> str:
    for key in ("cohen_kappa", "micro_f1", "span_overlap_f1"):
        if key in r:
            return fmt(r[key])
    return "n/a"


def _intro(fig: dict) -> list[str]:
    c = fig["consensus"]
    lines = [
        f"Task kind {fig['kind']} ({fig['scale']}); reviewers: {', '.join(fig['reviewers'])}.",
        f"Consensus ({c['method']}): {c['items']} items, {c['ties']} "
        + ("left out without a majority." if fig["kind"] in JUDGED else "tied."),
        "Intervals are bootstrap 95% over items.",
    ]
    if fig["kind"] in JUDGED:
        tie = ", ties allowed" if fig.get("allow_tie") else ""
        lines.append(
            f"Judging task ({fig['kind']}{tie}): judgments are compared whole with the "
            "people's consensus; a model is a judge, its position bias is how often its "
            "pairwise verdict changed when the replies swapped places."
        )
    if "rankings" in fig:
        lines += ranking_lines(fig["rankings"])
    return lines + [f"Not covered: {x}" for x in fig["not_covered"]]


def to_markdown(fig: dict, plots: dict[str, str]) -> str:
    """The report as Markdown."""
    lines = [f"# Eval report: {fig.get('task', '')}", "", *_intro(fig), ""]
    for title, header, rows in sections(fig):
        lines += [f"## {title}", "", _md_row(header), _md_row(["---"] * len(header))]
        lines += [_md_row(r) for r in rows] + [""]
    lines += [f"![{name}]({path})" for name, path in plots.items()]
    return "\n".join(lines) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def to_html(fig: dict, plots: dict[str, str]) -> str:
    """The report as one HTML page; every string from the data goes through html.escape."""
    e = html.escape
    body = [f"<h1>Eval report: {e(str(fig.get('task', '')))}</h1>"]
    body += [f"<p>{e(line)}</p>" for line in _intro(fig)]
    for title, header, rows in sections(fig):
        body.append(f"<h2>{e(title)}</h2><table>")
        body.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        body += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
        body.append("</table>")
    body += [f'<img src="{e(path)}" alt="{e(name)}">' for name, path in plots.items()]
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Eval report</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


# --- plots ------------------------------------------------------------------------------------


def plot_confusion(cm: dict, path: Path) -> Path:
    """A heat map of a confusion matrix (gold rows, predicted columns) restricted to used labels."""
    labels, matrix = cm["labels"], cm["matrix"]
    used = [i for i in range(len(labels)) if any(matrix[i]) or any(r[i] for r in matrix)]
    sub = [[matrix[i][j] for j in used] for i in used]
    fig, ax = _figure("Confusion: consensus (rows) vs model (columns)")
    ax.grid(False)
    ax.imshow(sub, cmap="Blues")
    names = [str(labels[i]) for i in used]
    ax.set_xticks(range(len(used)), names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(used)), names, fontsize=6)
    if len(used) <= 15:
        for i, row in enumerate(sub):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    return _save(fig, path)


def plot_weekly(weeks: list[dict], path: Path) -> Path:
    """Model-vs-consensus accuracy per week with its 95% interval."""
    fig, ax = _figure("Agreement over time: model vs consensus")
    x = [w["week"] for w in weeks]
    y = [w["accuracy"]["value"] for w in weeks]
    lo = [_or(w["accuracy"]["lo"], v) for w, v in zip(weeks, y, strict=True)]
    hi = [_or(w["accuracy"]["hi"], v) for w, v in zip(weeks, y, strict=True)]
    ax.plot(x, y, marker="o")
    ax.fill_between(x, lo, hi, alpha=0.2)
    ax.set(ylim=(0, 1.02), xlabel="ISO week", ylabel="accuracy")
    ax.tick_params(axis="x", rotation=45)
    return _save(fig, path)


def _or(x, default):
    return default if x is None else x


def write_plots(fig: dict, out: Path) -> dict[str, str]:
    """The routing model's PNGs in ``out``, and a judging task's model rankings and win
    rates; returns name -> file name."""
    plots = _model_plots(fig, out)
    if "rankings" in fig:
        plots.update(_ranking_plots(fig["rankings"], out))
    return plots


def _ranking_plots(r: dict, out: Path) -> dict[str, str]:
    sources = {name: s for name, s in r["sources"].items() if s["scores"]}
    plots: dict[str, str] = {}
    if sources:
        results = {source_title(name, r): s["scores"] for name, s in sources.items()}
        plot_rankings(results, out / "model_rankings.png")
        plots["model rankings"] = "model_rankings.png"
    for name, s in sources.items():
        models, matrix = s["win_rates"]["models"], s["win_rates"]["matrix"]
        if len(models) >= 2:
            plot_win_rates(models, matrix, out / f"win_rates_{name}.png")
            plots[f"win rates ({source_title(name, r)})"] = f"win_rates_{name}.png"
    return plots


def _model_plots(fig: dict, out: Path) -> dict[str, str]:
    model = fig.get("routing_model")
    m = fig["models"].get(model) if model else None
    if m is None:
        return {}
    plots: dict[str, str] = {}
    if m.get("confusion_matrix"):
        plot_confusion(m["confusion_matrix"], out / "confusion_matrix.png")
        plots["confusion matrix"] = "confusion_matrix.png"
    cal = m["calibration"]
    if cal["n"]:
        plot_reliability(cal["reliability"], [], out / "reliability.png")
        plots["reliability diagram"] = "reliability.png"
        eps = 1 - cal["target_accuracy"]
        plot_risk_coverage(
            cal["risk_coverage"], cal["threshold_at_target"], eps, out / "risk_coverage.png"
        )
        plots["risk-coverage curve"] = "risk_coverage.png"
    if m["weekly"]:
        plot_weekly(m["weekly"], out / "agreement_over_time.png")
        plots["agreement over time"] = "agreement_over_time.png"
    return plots
