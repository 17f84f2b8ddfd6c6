"""Eval report figures as Markdown, HTML (every data-derived string escaped) and PNG plots."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from labelloop.evals.calibration import _figure, _save, plot_reliability, plot_risk_coverage

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
    for model, m in fig["models"].items():
        c = m["vs_consensus"]
        rows = [["consensus", str(c["n"]), fmt(c["accuracy"]), _second(c)]]
        rows += [
            [f"reviewer {who}", str(r["n"]), fmt(r["accuracy"]), _second(r)]
            for who, r in m["vs_reviewers"].items()
        ]
        out.append(
            (f"Model {model} vs people", ["against", "items", "accuracy", "kappa / F1"], rows)
        )
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
    return out


def _second(r: dict) -> str:
    for key in ("cohen_kappa", "micro_f1", "span_overlap_f1"):
        if key in r:
            return fmt(r[key])
    return "n/a"


def _intro(fig: dict) -> list[str]:
    c = fig["consensus"]
    lines = [
        f"Task kind {fig['kind']} ({fig['scale']}); reviewers: {', '.join(fig['reviewers'])}.",
        f"Consensus ({c['method']}): {c['items']} items, {c['ties']} tied.",
        "Intervals are bootstrap 95% over items.",
    ]
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
    """The routing model's PNGs in ``out``; returns name -> file name."""
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
