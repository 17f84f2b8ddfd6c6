"""``labelloop eval --evalset``: label a frozen eval set with one model and prompt version,
keep the run, and compare runs side by side.

A run is (model, prompt version, guideline version, eval-set version). Its answers are
stored apart from the project's suggestions, so evaluating never changes routing. Gold
labels stay as frozen; a label renamed or merged since is mapped on reading, and items
whose gold label was split since cannot be scored and are left out (and counted).
"""

from __future__ import annotations

from labelloop.core.errors import ConfigError, LabelloopError
from labelloop.core.resources import prompt_template
from labelloop.evals.compare import paired_difference, run_figures
from labelloop.label.labeler import label_context, make_provider, suggest
from labelloop.learn import evalsets, labelmap
from labelloop.learn.evaluate import comparable
from labelloop.project import Project
from labelloop.store import EvalRun, EvalSet, RunAnswer


def run(
    project: Project,
    name: str,
    model: str | None = None,
    prompt_version: str | None = None,
    version: int | None = None,
    **provider_options,
) -> EvalRun:
    """Label every item of the eval set with the model (and prompt version); store the run."""
    es = evalsets.get(project, name, version)
    store, guideline = project.store, project.guideline()
    options = dict(provider_options)
    if prompt_version is not None:
        if project.model(model) == "local":
            raise ConfigError(
                "--prompt-version applies to LLM models only: add --model MODEL, or drop it"
            )
        options["prompt_template"] = str(prompt_template(prompt_version, project.root))
    provider = make_provider(project, model, options)
    ctx = label_context(store, guideline)
    items = store.get_items(es.gold)
    made = suggest(store, provider, [items[i] for i in sorted(items)], ctx)
    answers = {
        s.item_id: RunAnswer(
            value=s.value if s.status == "ok" else None,
            confidence=s.calibrated if s.calibrated is not None else s.confidence,
            status=s.status,
            error=s.error,
        )
        for s in made
    }
    spend = getattr(provider, "spend", None)
    record = {
        "eval_set_id": es.id,
        "model": provider.model,
        "prompt_version": provider.version(ctx),
        "guideline_version": guideline.version,
        "items": len(answers),
        "failed": sum(a.status != "ok" for a in answers.values()),
        "cost_usd": spend.cost_usd if spend else 0.0,
        "params": {"prompt": prompt_version, "api_base": options.get("api_base")},
    }
    return store.add_eval_run(record, answers)


def compare_runs(
    project: Project, name: str, runs: tuple[int, int] | None = None, version: int | None = None
) -> dict:
    """Every run of the eval set side by side, and run B against run A (the last two by
    default): accuracy and macro-F1 differences with paired bootstrap CIs, McNemar's p."""
    es = evalsets.get(project, name, version)
    store, guideline = project.store, project.guideline()
    all_runs = store.eval_runs(set_ids=[es.id])
    kind, labels = guideline.kind, guideline.label_names
    gold, unscorable = _gold(project, es)
    answers = {r.id: _answers(store.eval_run_answers(r.id), kind) for r in all_runs}
    table = [
        {**r.model_dump(mode="json"), **run_figures(answers[r.id], gold, kind, labels)}
        for r in all_runs
    ]
    result = {
        "evalset": {
            "name": es.name,
            "version": es.version,
            "items": len(es.gold),
            "scored": len(gold),
            "unscorable": unscorable,
        },
        "runs": table,
        "comparison": None,
    }
    pair = _pick(all_runs, runs, es)
    if pair is not None:
        a, b = pair
        diff = paired_difference(gold, answers[a], answers[b], kind, labels)
        result["comparison"] = {"a": a, "b": b, **diff}
    return result


def _gold(project: Project, es: EvalSet) -> tuple[dict, int]:
    """Gold labels in today's label names (comparable form), and how many cannot be mapped."""
    mappings = project.store.label_mappings(since=es.created_at)
    kind = project.guideline().kind
    out, lost = {}, 0
    for item, value in es.gold.items():
        mapped = labelmap.apply_all(value, [m.mapping for m in mappings])
        if mapped is None:
            lost += 1
        else:
            out[item] = comparable(mapped, kind)
    return out, lost


def _answers(answers: dict[str, RunAnswer], kind: str) -> dict:
    return {
        i: comparable(a.value, kind) if a.value is not None else None for i, a in answers.items()
    }


def _pick(all_runs: list[EvalRun], runs: tuple[int, int] | None, es: EvalSet):
    if runs is None:
        return (all_runs[-2].id, all_runs[-1].id) if len(all_runs) >= 2 else None
    known = {r.id for r in all_runs}
    missing = [r for r in runs if r not in known]
    if missing:
        listed = ", ".join(str(r) for r in sorted(known)) or "none yet"
        raise LabelloopError(
            f"Run {missing[0]} is not a run of eval set {es.name!r} v{es.version}: its runs "
            f"are {listed} (labelloop evalset show {es.name})"
        )
    return runs
