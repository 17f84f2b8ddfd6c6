"""``labelloop demo``: a demo project from the bundled BANKING77 sample, labeled offline."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from labelloop import loop
from labelloop.core.errors import ConfigError
from labelloop.core.resources import demo_guideline, demo_sample
from labelloop.core.types import Frozen, Route
from labelloop.evals.metrics import accuracy
from labelloop.project import Project, init_project
from labelloop.review.auth import add_user
from labelloop.route.calibrate import calibrate

MARKER = ".labelloop-demo"
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"


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


def split_sample(root: Path, reviewed_share: float, seed: int) -> tuple[Path, Path, dict]:
    """Write the gold part (imported as reviews) and the unlabeled part; return gold labels."""
    rows = [json.loads(line) for line in demo_sample().read_text(encoding="utf-8").splitlines()]
    random.Random(seed).shuffle(rows)
    cut = int(len(rows) * reviewed_share)
    data = root / "data"
    data.mkdir()
    reviewed, unlabeled = data / "reviewed.jsonl", data / "unlabeled.jsonl"
    _write(reviewed, rows[:cut])
    _write(unlabeled, ({"id": r["id"], "text": r["text"]} for r in rows[cut:]))
    return reviewed, unlabeled, {r["id"]: r["label"] for r in rows}


def _write(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def build_demo(
    root: str | Path, reviewed_share: float = 0.33, seed: int = 0, progress=None
) -> tuple[Project, DemoSummary]:
    """Create, import, label and route the demo project; summarise against gold."""
    root = Path(root).resolve()
    prepare_dir(root)
    project = init_project(root, demo_guideline())
    reviewed, unlabeled, gold = split_sample(root, reviewed_share, seed)
    # The gold third is a uniform random sample labeled without suggestions: it calibrates.
    imported = loop.import_file(project, reviewed, reviewer="gold", sample=True)
    loop.import_file(project, unlabeled)
    add_user(project.store, DEMO_USER, "admin", DEMO_PASSWORD)
    run = loop.label(project, progress=progress)
    calibrated = calibrate(project)
    return project, summarise(project, imported.reviews_added, run, gold, calibrated)


def summarise(
    project: Project, imported_reviews: int, run, gold: dict, calibrated: dict
) -> DemoSummary:
    """Items per route and the local model's accuracy against the held-back gold."""
    store = project.store
    routes = store.route_counts()
    pairs, auto = [], []
    for rec in store.iter_records(model=run.model):
        s = rec.suggestion
        if rec.route == Route.REVIEWED or s is None or s.value is None:
            continue
        pairs.append((s.value.label, gold[rec.item.id]))
        if rec.route == Route.AUTO_ACCEPTED:
            auto.append(pairs[-1])
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
    )


def _unzip(pairs):
    return [p for p, _ in pairs], [g for _, g in pairs]
