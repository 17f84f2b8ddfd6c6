"""A review day under load, and the promises the store must keep through it.

Reviewer clients decide items as fast as they come (accept, fix, reject, skip, undo),
each with a ``ReviewService`` of its own (a console process of its own) or sharing one,
while labeling, imports, calibration, routing, adjudication and bulk accepts run beside
them, each on its own project handle (another process). Every client writes down what it
believes happened; :func:`check` then reads the store and counts the broken promises:
items decided twice outside overlap, reviews lost or duplicated, refusals on items the
reviewer held, undos that did not restore, calibration pairs from moved items.

Used by ``tests/test_concurrency.py`` and ``benchmarks/bench_concurrency.py``.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from agent import calibrate, pipeline
from agent.auth import add_user
from agent.config import Project, load_project
from agent.errors import LabelloopError, ReviewConflict
from agent.review import REJECT_REASONS, ReviewService, share_hit
from agent.review_views import BrowseFilters
from tests.llm_support import make_project, write_jsonl

LABELS = ("card_arrival", "lost_or_stolen_card", "refund")
#: words that lean towards each label, and words that lean nowhere
CUES = {
    "card_arrival": ("where", "new", "card", "arrive", "delivery", "waiting"),
    "lost_or_stolen_card": ("lost", "stolen", "card", "missing", "thief", "block"),
    "refund": ("money", "back", "refund", "charged", "return", "twice"),
}
FILLER = ("please", "help", "my", "the", "today", "account", "bank", "still", "why")
PASSWORD = "pw-concurrency-1"
ADMIN = "ada"
ANNOTATOR = "sam"
#: a client's next move: (what, weight); undo is left out while nothing is undoable
MOVES = (("accept", 40), ("fix", 25), ("reject", 8), ("skip", 12), ("undo", 15))
STREAM_QUEUES = ("calibration", "audit", "active")
DECIDING = ("accept", "fix", "reject")


@dataclass(frozen=True)
class Load:
    """How hard the day is."""

    items: int = 300
    clients: int = 5
    #: how many of the clients share one service (one console process serving several)
    shared: int = 2
    seconds: float = 20.0
    #: pause between runs of each job, in seconds (None: the job does not run)
    label_every: float | None = 1.0
    import_every: float | None = 1.5
    calibrate_every: float | None = 3.0
    route_every: float | None = 0.5
    adjudicate_every: float | None = 2.0
    bulk_every: float | None = 4.0
    #: new items a new-items import adds, and items a second annotator's file labels
    import_size: int = 12
    #: most seconds a client waits between decisions (uniform draw)
    think: float = 0.0
    overlap: float = 0.1
    overlap_reviewers: int = 2
    similar_k: int = 0
    seed: int = 0


# --- what the clients believe -------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """A decision a client was told was recorded."""

    client: str
    review_id: int
    item_id: str
    action: str
    queue: str
    blind: bool
    overlap: bool
    #: the item's route when it was leased, and as the client read it just before deciding
    leased_route: str | None
    route_seen: str | None
    ms: float


@dataclass(frozen=True)
class Refusal:
    """A decision or undo the service refused, and whether the client held the item then."""

    client: str
    item_id: str
    what: str
    held: bool
    message: str


@dataclass(frozen=True)
class Undone:
    """An undo the service did: which review it took back and what the client saw after."""

    client: str
    review_id: int
    item_id: str
    #: the item is on the route it was leased on again (a skip moved nothing: True)
    restored: bool
    leased_back: bool
    shown: bool


@dataclass
class Log:
    """Everything every client and job saw, appended from many threads."""

    decisions: list[Decision] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    undos: list[Undone] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    runs: Counter = field(default_factory=Counter)
    #: review ids written by the admin jobs (adjudications, bulk accepts)
    admin_reviews: list[int] = field(default_factory=list)


# --- the project ----------------------------------------------------------------------------


def texts(n: int, prefix: str, seed: int) -> list[dict]:
    """``n`` short support messages, each leaning towards a label (some towards two)."""
    rnd = random.Random(f"{prefix}:{seed}")
    rows = []
    for k in range(n):
        lean = rnd.sample(LABELS, rnd.choice((1, 1, 2)))
        words = [w for label in lean for w in rnd.sample(CUES[label], 3)]
        words += rnd.sample(FILLER, 3)
        rnd.shuffle(words)
        rows.append({"id": f"{prefix}{k:05d}", "text": " ".join(words)})
    return rows


def build(root: Path, load: Load, database_url: str | None = None) -> Project:
    """A project of ``load.items`` items labeled by the local model, which routes them
    (calibration, audit, active; a fixed threshold auto-accepts before calibration), with
    the reviewers ``r01``... and the admin."""
    settings: dict = {
        "routing": {"calibration_rate": 0.15, "audit_rate": 0.2, "threshold": 0.7},
        "review": {
            "overlap": load.overlap,
            "overlap_reviewers": load.overlap_reviewers,
            "similar_k": load.similar_k,
            "seed": load.seed,
        },
    }
    if database_url:
        settings["database_url"] = database_url
    project = make_project(root, texts(load.items, "c", load.seed), **settings)
    pipeline.label(project)
    for name in reviewers(load):
        add_user(project.store, name, "reviewer", PASSWORD)
    add_user(project.store, ADMIN, "admin", PASSWORD)
    return project


def reviewers(load: Load) -> list[str]:
    return [f"r{k + 1:02d}" for k in range(load.clients)]


# --- a reviewer -----------------------------------------------------------------------------


class Client:
    """One reviewer at the console, deciding as fast as items come."""

    def __init__(self, name: str, service: ReviewService, log: Log, load: Load, salt: int):
        self.name, self.service, self.log, self.load = name, service, log, load
        self.store = service.store
        self.rnd = random.Random(f"{load.seed}:{name}:{salt}")
        #: the client's decisions that stand, newest last: what undo takes back
        self.stack: list[Decision] = []

    def run(self, stop: threading.Event) -> None:
        view = self.service.next_item(self.name)
        while not stop.is_set():
            if view is None:
                stop.wait(0.05)
                view = self.service.next_item(self.name)
                continue
            move = self._move()
            try:
                view = self.undo(view) if move == "undo" else self.decide(view, move)
            except Exception:  # noqa: BLE001 - a finding: logged, and the day goes on
                self.log.errors.append(f"client {self.name}: {traceback.format_exc()}")
                view = self.service.next_item(self.name)
            if self.load.think:
                stop.wait(self.rnd.uniform(0, self.load.think))

    def _move(self) -> str:
        moves = [(m, w) for m, w in MOVES if m != "undo" or self.stack]
        return self.rnd.choices([m for m, _ in moves], [w for _, w in moves])[0]

    def decide(self, view, move: str):
        item = view.item.id
        action, value, reason = self._answer(view, move)
        held = self.holds(item)
        route = self.store.get_route(item)
        t0 = time.perf_counter()
        try:
            out = self.service.decide(self.name, item, action, value, reason=reason)
        except ReviewConflict as exc:
            self.log.refusals.append(Refusal(self.name, item, "decide", held, str(exc)))
            return self.service.next_item(self.name)
        ms = (time.perf_counter() - t0) * 1000
        got = out.review
        decision = Decision(
            self.name, got.id, item, got.action, view.queue, view.blind, view.overlap,
            view.route, route.route if route else None, ms,
        )  # fmt: skip
        self.log.decisions.append(decision)
        self.stack.append(decision)
        return out.next

    def _answer(self, view, move: str):
        """(action, value, reason) for the move; a blind item has nothing to accept."""
        if move == "accept" and view.suggestion is None:
            move = "fix"
        if move == "fix":
            return "fix", self.rnd.choice(LABELS), None
        if move == "reject":
            return "reject", None, self.rnd.choice([r for r in REJECT_REASONS if r != "other"])
        return move, None, None

    def undo(self, view):
        last = self.stack[-1]
        held = self.holds(last.item_id)
        try:
            back = self.service.undo(self.name)
        except ReviewConflict as exc:  # the item is with another reviewer now
            self.log.refusals.append(Refusal(self.name, last.item_id, "undo", held, str(exc)))
            return view
        self.stack.pop()
        route = self.store.get_route(last.item_id)
        restored = last.action == "skip" or (route is not None and route.route == last.leased_route)
        shown = back is not None and back.item.id == last.item_id
        undone = Undone(
            self.name, last.review_id, last.item_id, restored, self.holds(last.item_id), shown
        )
        self.log.undos.append(undone)
        return back

    def holds(self, item_id: str) -> bool:
        leases = self.store.leases_of(self.name, datetime.now(UTC))
        return any(lease.item_id == item_id for lease in leases)


# --- the jobs beside them -----------------------------------------------------------------


def jobs(root: Path, load: Load, log: Log) -> dict[str, tuple[float, Callable[[], None]]]:
    """name -> (pause, one run): each job on a project handle of its own."""
    rounds = iter(range(10**6))
    rnd = random.Random(f"jobs:{load.seed}")
    known = texts(load.items, "c", load.seed)

    def label(p: Project) -> None:
        pipeline.label(p, stale=True)

    def import_(p: Project) -> None:
        k = next(rounds)
        if k % 2 == 0:  # new items
            rows = texts(load.import_size, f"n{k:04d}-", load.seed)
            path = write_jsonl(p.root.parent / f"new-{k}.jsonl", rows)
            pipeline.import_file(p, path)
        else:  # a second annotator's labels on items already there
            rows = [r | {"label": rnd.choice(LABELS)} for r in rnd.sample(known, load.import_size)]
            path = write_jsonl(p.root.parent / f"second-{k}.jsonl", rows)
            pipeline.import_file(p, path, reviewer=ANNOTATOR)

    def calibrate_(p: Project) -> None:
        calibrate.calibrate(p)

    def route(p: Project) -> None:
        pipeline.route(p)

    admin = {}

    def service(p: Project) -> ReviewService:
        if "svc" not in admin:
            admin["svc"] = ReviewService(p)
        return admin["svc"]

    def adjudicate(p: Project) -> None:
        svc = service(p)
        for item in svc.adjudication_items(ADMIN, limit=3):
            answers = svc.adjudication_view(ADMIN, item).answers
            value = next((a.value for a in answers if a.value is not None), None)
            try:
                review = svc.adjudicate(ADMIN, item, value or LABELS[0])
            except LabelloopError as exc:  # decided or moved since the list was read
                log.refusals.append(Refusal(ADMIN, item, "adjudicate", False, str(exc)))
                continue
            log.admin_reviews.append(review.id)

    def bulk(p: Project) -> None:
        svc = service(p)
        if rnd.random() < 0.4 and p.store.last_bulk(ADMIN) is not None:
            svc.undo_bulk(ADMIN)
            return
        plan = svc.bulk_preview(ADMIN, BrowseFilters(route="active", text=rnd.choice(FILLER)))
        svc.bulk_accept(ADMIN, plan.token)

    every = {
        "label": (load.label_every, label),
        "import": (load.import_every, import_),
        "calibrate": (load.calibrate_every, calibrate_),
        "route": (load.route_every, route),
        "adjudicate": (load.adjudicate_every, adjudicate),
        "bulk": (load.bulk_every, bulk),
    }
    out = {}
    for name, (pause, fn) in every.items():
        if pause is not None:
            project = load_project(root)
            out[name] = (pause, _bound(fn, project))
    out["close admin"] = (0.0, lambda: admin.get("svc") and admin["svc"].close())
    return out


def _bound(fn, project):
    return lambda: fn(project)


# --- the day ------------------------------------------------------------------------------


def run(project: Project, load: Load) -> tuple[Log, float]:
    """Clients and jobs for ``load.seconds``; the log and the seconds it really took."""
    log = Log()
    stop = threading.Event()
    services, clients = [], []
    shared = None
    for k, name in enumerate(reviewers(load)):
        if k < load.shared:
            if shared is None:
                shared = ReviewService(load_project(project.root))
                services.append(shared)
            svc = shared
        else:
            svc = ReviewService(load_project(project.root))
            services.append(svc)
        clients.append(Client(name, svc, log, load, k))
    work = jobs(project.root, load, log)
    closing = work.pop("close admin")[1]
    threads = [_thread(f"client {c.name}", c.run, stop, log) for c in clients]
    threads += [
        _thread(name, _every(name, pause, fn, log), stop, log) for name, (pause, fn) in work.items()
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(load.seconds)
    stop.set()
    for t in threads:
        t.join(timeout=120)
        if t.is_alive():
            log.errors.append(f"{t.name}: still running 120 s after the end")
    took = time.perf_counter() - t0
    closing()
    for svc in services:
        svc.close()
    return log, took


def _every(name: str, pause: float, fn: Callable[[], None], log: Log):
    def loop(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                fn()
                log.runs[name] += 1
            except Exception:  # noqa: BLE001 - a finding: logged, and the job runs again
                log.errors.append(f"{name}: {traceback.format_exc()}")
            stop.wait(pause)

    return loop


def _thread(name: str, body, stop: threading.Event, log: Log) -> threading.Thread:
    def guarded() -> None:
        try:
            body(stop)
        except Exception:  # noqa: BLE001 - every failure is a finding, reported by name
            log.errors.append(f"{name}: {traceback.format_exc()}")

    return threading.Thread(target=guarded, name=name, daemon=True)


# --- what the store says --------------------------------------------------------------------


def check(project: Project, load: Load, log: Log) -> dict[str, int]:
    """The broken promises, counted from the store against the clients' log (all 0)."""
    rows = list(project.store.iter_reviews(undone=True))
    by_id = {r.id: r for r in rows}
    undone = {r.supersedes for r in rows if r.action == "undo"}
    standing = [r for r in rows if r.action != "undo" and r.id not in undone]
    counts = _decided_twice(standing, load)
    counts |= _lost_or_duplicated(rows, by_id, log, load)
    counts |= _undos(rows, log)
    counts["refused while held"] = sum(r.held for r in log.refusals if r.what == "decide")
    counts |= _calibration(standing, log, load)
    counts["errors"] = len(log.errors)
    return counts


def _stream(r) -> bool:
    return r.source == "console" and r.queue in STREAM_QUEUES and r.action in DECIDING


def _decided_twice(standing, load: Load) -> dict[str, int]:
    """Items with standing decisions by more people than they should have: two outside
    overlap (a bulk accept counts as its admin's), more than ``overlap_reviewers`` on it."""
    who: dict[str, set[str]] = defaultdict(set)
    for r in standing:
        if _stream(r):
            who[r.item_id].add(r.reviewer)
    twice = over = 0
    for item, people in who.items():
        if share_hit(item, load.overlap, "overlap"):
            over += len(people) > load.overlap_reviewers
        else:
            twice += len(people) > 1
    return {"decided twice outside overlap": twice, "overlap items over their reviewers": over}


def _lost_or_duplicated(rows, by_id, log: Log, load: Load) -> dict[str, int]:
    """Reviews a client was told about that the store lacks or holds otherwise, and rows in
    the store nobody was told about (a decision written twice)."""
    told = Counter(d.review_id for d in log.decisions)
    told.update(log.admin_reviews)
    lost = sum(
        1
        for d in log.decisions
        if d.review_id not in by_id
        or (by_id[d.review_id].item_id, by_id[d.review_id].reviewer, by_id[d.review_id].action)
        != (d.item_id, d.client, d.action)
    )
    lost += sum(1 for rid in log.admin_reviews if rid not in by_id)
    people = set(reviewers(load))
    written = [
        r
        for r in rows
        if r.source == "console" and r.action != "undo" and not r.bulk and r.reviewer != ADMIN
    ]
    untold = sum(1 for r in written if r.reviewer in people and r.id not in told)
    untold += sum(1 for r in written if r.reviewer not in people)
    return {"lost reviews": lost, "duplicated reviews": untold + sum(n > 1 for n in told.values())}


def _undos(rows, log: Log) -> dict[str, int]:
    """Undo rows that do not match the undos clients made, and undos that did not put the
    item back on its route, leased to the reviewer, on screen."""
    stored = Counter((r.reviewer, r.supersedes) for r in rows if r.action == "undo" and not r.bulk)
    made = Counter((u.client, u.review_id) for u in log.undos)
    mismatched = sum((stored - made).values()) + sum((made - stored).values())
    unrestored = sum(not (u.restored and u.leased_back and u.shown) for u in log.undos)
    return {"undo rows not as undone": mismatched, "undos not restored": unrestored}


def _calibration(standing, log: Log, load: Load) -> dict[str, int]:
    """Calibration pairs (standing blind decisions from the calibration queue, not marked
    ``route_changed``) from items that were not on the calibration route all along, and
    items with pairs from two reviewers."""
    seen = {d.review_id: d for d in log.decisions}
    pairs = [
        r
        for r in standing
        if _stream(r) and r.queue == "calibration" and r.blind and r.action != "reject"
        and not r.route_changed
    ]  # fmt: skip
    moved = sum(
        1
        for r in pairs
        if r.id in seen and {seen[r.id].leased_route, seen[r.id].route_seen} != {"calibration"}
    )
    per_item = Counter(r.item_id for r in pairs)
    two = sum(n > 1 for i, n in per_item.items() if not share_hit(i, load.overlap, "overlap"))
    return {"calibration pairs from moved items": moved, "items with two calibration pairs": two}


# --- figures --------------------------------------------------------------------------------


def figures(log: Log, took: float) -> dict:
    """Decisions made, decisions per second and decide() latency."""
    ms = [d.ms for d in log.decisions]
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [0.0] * 99
    return {
        "seconds": round(took, 1),
        "decisions": len(ms),
        "items decided": len({d.item_id for d in log.decisions if d.action in DECIDING}),
        "undos": len(log.undos),
        "decisions per s": round(len(ms) / took, 1) if took else 0.0,
        "decide p50 ms": round(q[49], 1),
        "decide p95 ms": round(q[94], 1),
        "refusals": dict(Counter(r.what for r in log.refusals)),
        "job runs": dict(log.runs),
    }
