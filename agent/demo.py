"""``labelloop demo``: a demo project from a bundled sample, labeled offline.

Two tasks: ``intent`` (the default), BANKING77 support messages with one label each, and
``entities``, WNUT-17 social-media posts whose named entities are marked as character spans
(``guidelines/wnut17-entities.md``; the embedded model labels them with its CRF).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labelloop import loop
from labelloop.core.errors import ConfigError
from labelloop.core.resources import (
    demo_guideline,
    demo_sample,
    entities_guideline,
    entities_sample,
)
from labelloop.core.types import Frozen, LabelValue, Route, Span
from labelloop.evals.agreement import span_exact_prf
from labelloop.evals.metrics import accuracy
from labelloop.project import Project, init_project
from labelloop.review.auth import add_user
from labelloop.route.calibrate import calibrate

MARKER = ".labelloop-demo"
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"


@dataclass(frozen=True)
class DemoTask:
    """A bundled demo: its guideline, its sample (import rows with their gold answer in
    ``field``) and what counts as the same answer (``key`` of a row's or a suggestion's)."""

    name: str
    guideline: Callable[[], Path]
    sample: Callable[[], Path]
    field: str

    @property
    def spans(self) -> bool:
        return self.field == "spans"

    def gold(self, answer):
        """A gold answer as :meth:`answer` gives it: the label, or the spans' exact-match key."""
        return _span_value(answer).key() if self.spans else answer

    def answer(self, value: LabelValue):
        """A suggestion's answer, comparable with :meth:`gold`."""
        return value.key() if self.spans else value.label


TASKS = {
    "intent": DemoTask("intent", demo_guideline, demo_sample, "label"),
    "entities": DemoTask("entities", entities_guideline, entities_sample, "spans"),
}
DEFAULT_TASK = "intent"


def demo_task(name: str) -> DemoTask:
    if name not in TASKS:
        raise ConfigError(f"No demo task {name!r}: valid tasks are {', '.join(TASKS)}")
    return TASKS[name]


class DemoSummary(Frozen):
    project: str
    items: int
    imported_reviews: int
    routes: dict[str, int]
    labeled: int
    label_seconds: float
    accuracy_unreviewed: float | None
    accuracy_auto_accepted: float | None
    auto_accepted: int
    threshold: float | None
    guarantee: str
    user: str
    password: str
    task: str = DEFAULT_TASK
    #: span tasks: micro span-F1 (exact boundaries and label) on the items not reviewed
    span_f1_unreviewed: float | None = None
    #: span tasks: auto-accepted items whose suggestion has spans / has none, and their
    #: exact-match accuracy against gold
    auto_accepted_with_spans: int | None = None
    accuracy_auto_with_spans: float | None = None
    auto_accepted_without_spans: int | None = None
    accuracy_auto_without_spans: float | None = None


def prepare_dir(root: Path) -> None:
    """Start from an empty folder; only a previous demo project may be replaced."""
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise ConfigError(
                f"{root} exists and is not a labelloop demo: pass another --dir, or remove it"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("made by `labelloop demo`; safe to delete\n")


def split_sample(
    root: Path, reviewed_share: float, seed: int, task: str = DEFAULT_TASK
) -> tuple[Path, Path, dict]:
    """Write the gold part (imported as reviews) and the unlabeled part; return the gold
    answers (labels, or for spans each row's list of spans)."""
    spec = demo_task(task)
    text = spec.sample().read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines()]
    random.Random(seed).shuffle(rows)
    cut = int(len(rows) * reviewed_share)
    data = root / "data"
    data.mkdir()
    reviewed, unlabeled = data / "reviewed.jsonl", data / "unlabeled.jsonl"
    _write(reviewed, rows[:cut])
    _write(unlabeled, ({"id": r["id"], "text": r["text"]} for r in rows[cut:]))
    return reviewed, unlabeled, {r["id"]: r[spec.field] for r in rows}


def _write(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def build_demo(
    root: str | Path,
    reviewed_share: float = 0.33,
    seed: int = 0,
    progress=None,
    task: str = DEFAULT_TASK,
) -> tuple[Project, DemoSummary]:
    """Create, import, label and route the demo project; summarise against gold."""
    spec = demo_task(task)
    root = Path(root).resolve()
    prepare_dir(root)
    project = init_project(root, spec.guideline())
    reviewed, unlabeled, gold = split_sample(root, reviewed_share, seed, task)
    # The gold third is a uniform random sample labeled without suggestions: it calibrates.
    imported = loop.import_file(project, reviewed, reviewer="gold", sample=True)
    loop.import_file(project, unlabeled)
    add_user(project.store, DEMO_USER, "admin", DEMO_PASSWORD)
    run = loop.label(project, progress=progress)
    calibrated = calibrate(project)
    return project, summarise(project, imported.reviews_added, run, gold, calibrated, task)


def summarise(
    project: Project,
    imported_reviews: int,
    run,
    gold: dict,
    calibrated: dict,
    task: str = DEFAULT_TASK,
) -> DemoSummary:
    """Items per route and the local model's accuracy against the held-back gold (exact
    match; for spans also span-F1, and the auto-accepted split by whether spans were found)."""
    spec = demo_task(task)
    store = project.store
    routes = store.route_counts()
    pairs, auto = [], []
    docs: list[tuple[list, list]] = []  # spans: (suggested, gold) per unreviewed item
    found: list[bool] = []  # spans: whether each auto-accepted suggestion has any
    for rec in store.iter_records(model=run.model):
        s = rec.suggestion
        if rec.route == Route.REVIEWED or s is None or s.value is None:
            continue
        want = gold[rec.item.id]
        pairs.append((spec.answer(s.value), spec.gold(want)))
        if spec.spans:
            docs.append((_triples(s.value.spans or ()), _triples(_span_value(want).spans)))
        if rec.route == Route.AUTO_ACCEPTED:
            auto.append(pairs[-1])
            found.append(bool(s.value.spans))
    extra = _span_summary(docs, auto, found) if spec.spans else {}
    return DemoSummary(
        project=str(project.root),
        items=sum(routes.values()),
        imported_reviews=imported_reviews,
        routes=routes,
        labeled=run.labeled,
        label_seconds=run.seconds,
        accuracy_unreviewed=accuracy(*_unzip(pairs)),
        accuracy_auto_accepted=accuracy(*_unzip(auto)),
        auto_accepted=len(auto),
        threshold=calibrated.get("threshold"),
        guarantee=calibrated["guarantee"],
        user=DEMO_USER,
        password=DEMO_PASSWORD,
        task=spec.name,
        **extra,
    )


def _span_summary(docs: list, auto: list, found: list[bool]) -> dict:
    """Span-F1 on the unreviewed items; the auto-accepted with spans and without."""
    with_spans = [p for p, f in zip(auto, found, strict=True) if f]
    without = [p for p, f in zip(auto, found, strict=True) if not f]
    f1 = span_exact_prf([p for p, _ in docs], [g for _, g in docs])["f1"] if docs else None
    return {
        "span_f1_unreviewed": f1,
        "auto_accepted_with_spans": len(with_spans),
        "accuracy_auto_with_spans": accuracy(*_unzip(with_spans)),
        "auto_accepted_without_spans": len(without),
        "accuracy_auto_without_spans": accuracy(*_unzip(without)),
    }


def _span_value(spans: list[dict]) -> LabelValue:
    return LabelValue(
        spans=tuple(Span(start=s["start"], end=s["end"], label=s["label"]) for s in spans)
    )


def _triples(spans) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, s.label) for s in spans]


def _unzip(pairs):
    return [p for p, _ in pairs], [g for _, g in pairs]
