"""A review day under load, and the promises the store must keep through it.

Reviewer clients decide items as fast as they come (accept, fix, reject, skip, undo):
signed in to a console served over HTTP (``labelloop review`` in a process of its own),
or calling a ``ReviewService`` here, one of their own or one they share (one console
process serving several people). Beside them labeling, imports, calibration, routing,
adjudication and bulk accepts run, each on a project handle of its own. Every client
writes down what it was told; :func:`check` then reads the store and counts the broken
promises: items decided twice outside overlap, reviews lost or duplicated, refusals on
items the reviewer held, undos that did not restore, calibration pairs from moved items.

Used by ``tests/flows/test_concurrency.py`` and ``benchmarks/bench_concurrency.py``.
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from labelloop import loop
from labelloop.core.errors import LabelloopError, ReviewConflict
from labelloop.project import Project, load_project
from labelloop.review.auth import add_user
from labelloop.review.service import REJECT_REASONS, ReviewService, share_hit
from labelloop.review.views import BrowseFilters
from labelloop.route import calibrate, router
from tests.support.llm import make_project, write_jsonl
from tests.support.paths import ROOT

REPO = ROOT
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
    #: of the clients not over HTTP, how many share one service
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
    #: clients that sign in to a console served over HTTP (the first ones), spread over
    #: ``servers`` console processes; the others call a review service in this process
    over_http: int = 0
    servers: int = 1


# --- what the clients believe -------------------------------------------------------------


@dataclass
class Decision:
    """A decision a client was told was recorded."""

    client: str
    #: over HTTP the console does not say: matched to the store's rows afterwards
    review_id: int | None
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
    """An undo the console did: which decision it took back and what the client saw after."""

    client: str
    decision: Decision
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
    #: review ids of the admin job's adjudications (bulk accepts are told apart by their flag)
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
    loop.label(project)
    for name in reviewers(load):
        add_user(project.store, name, "reviewer", PASSWORD)
    add_user(project.store, ADMIN, "admin", PASSWORD)
    return project


def reviewers(load: Load) -> list[str]:
    return [f"r{k + 1:02d}" for k in range(load.clients)]


# --- a reviewer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """The item on a reviewer's screen."""

    item_id: str
    queue: str
    #: shown without the model's answer: nothing to accept
    blind: bool
    overlap: bool
    #: the item's route when it was leased (over HTTP: when it came on screen)
    route: str | None


class ServiceSeat:
    """A reviewer served by a ``ReviewService`` in this process, as the console calls it."""

    def __init__(self, name: str, service: ReviewService):
        self.name, self.service, self.store = name, service, service.store

    def next(self) -> Shown | None:
        return self._shown(self.service.next_item(self.name))

    def decide(self, shown: Shown, action, value, reason) -> tuple[str, int | None, Shown | None]:
        """(the action stored, the review's id, what comes next); ``ReviewConflict``."""
        out = self.service.decide(self.name, shown.item_id, action, value, reason=reason)
        return out.review.action, out.review.id, self._shown(out.next)

    def undo(self) -> Shown | None:
        return self._shown(self.service.undo(self.name))

    @staticmethod
    def _shown(view) -> Shown | None:
        if view is None:
            return None
        return Shown(view.item.id, view.queue, view.suggestion is None, view.overlap, view.route)


class HttpSeat:
    """A reviewer signed in to a served console, sending what the keys send through
    Gradio's queue (join, then the event stream), as the page does."""

    def __init__(self, name: str, url: str, store, load: Load):
        self.name, self.store, self.load = name, store, load
        self.http = httpx.Client(base_url=url, timeout=120)
        signed = self.http.post("/login", data={"username": name, "password": PASSWORD})
        if signed.status_code != 303:
            raise AssertionError(f"{name} could not sign in: HTTP {signed.status_code}")
        config = self.http.get("/config").json()
        self.events = {d["api_name"]: d for d in config["dependencies"] if d.get("backend_fn")}
        #: the screen a refusal came back with, shown next
        self.after: Shown | None = None

    def next(self) -> Shown | None:
        if self.after is not None:
            shown, self.after = self.after, None
            return shown
        return self._shown(self._call("review_load", [])[0])

    def decide(self, shown: Shown, action, value, reason) -> tuple[str, int | None, Shown | None]:
        cmd = {"action": action, "item": shown.item_id, "reason": reason}
        if value is not None:
            cmd["value"] = {"label": value}
        item, _, status, *_ = self._call("review_command", [json.dumps(cmd)])
        self._refused(item, status)
        saved = re.search(r"Saved [^:]*: (\w+)", status)  # a skip is saved without a word
        said = {"labeled": "fix"}.get(saved.group(1), saved.group(1)) if saved else action
        return said, None, self._shown(item)  # a label on a blind item is said as labeled

    def undo(self) -> Shown | None:
        item, _, status, *_ = self._call("review_command", [json.dumps({"action": "undo"})])
        self._refused(item, status)
        return self._shown(item)

    def _refused(self, item: str, status: str) -> None:
        """Raise what the status line says went wrong, if anything."""
        text = html.unescape(re.sub(r"<[^>]+>", " ", status)).strip()
        if "ll-warn" in status:
            self.after = self._shown(item)
            raise ReviewConflict(text)
        if "ll-error" in status:
            raise LabelloopError(f"the console answered: {text}")

    def _shown(self, item_html: str) -> Shown | None:
        attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', item_html.split(">", 1)[0]))
        item_id = html.unescape(attrs.get("item", ""))
        if not item_id:
            return None
        route = self.store.get_route(item_id)
        blind = html.unescape(attrs.get("suggested", "null")) == "null"
        overlap = share_hit(item_id, self.load.overlap, "overlap")
        return Shown(item_id, attrs["queue"], blind, overlap, route.route if route else None)

    def _call(self, event: str, data: list) -> list:
        """The event's outputs, through the queue as the page sends it."""
        dep, session = self.events[event], uuid.uuid4().hex
        body = {
            "data": data,
            "fn_index": dep["id"],
            "session_hash": session,
            "event_data": None,
            "trigger_id": dep["targets"][0][0] if dep["targets"] else None,
        }
        joined = self.http.post("/gradio_api/queue/join", json=body)
        joined.raise_for_status()
        params = {"session_hash": session}
        with self.http.stream("GET", "/gradio_api/queue/data", params=params) as r:
            for line in r.iter_lines():
                msg = json.loads(line[5:]) if line.startswith("data:") else {}
                if msg.get("msg") == "process_completed":
                    if not msg.get("success"):
                        raise LabelloopError(f"{event} failed: {msg.get('output')}")
                    return msg["output"]["data"]
        raise LabelloopError(f"{event}: the event stream ended without an answer")

    def close(self) -> None:
        self.http.close()


class Client:
    """One reviewer at the console, deciding as fast as items come."""

    def __init__(self, seat, log: Log, load: Load, salt: int):
        self.seat, self.log, self.load = seat, log, load
        self.name, self.store = seat.name, seat.store
        self.rnd = random.Random(f"{load.seed}:{self.name}:{salt}")
        #: the client's decisions that stand, newest last: what undo takes back
        self.stack: list[Decision] = []

    def run(self, stop: threading.Event) -> None:
        shown = self.seat.next()
        while not stop.is_set():
            if shown is None:
                stop.wait(0.05)
                shown = self.seat.next()
                continue
            move = self._move()
            try:
                shown = self.undo(shown) if move == "undo" else self.decide(shown, move)
            except Exception:  # noqa: BLE001 - a finding: logged, and the day goes on
                self.log.errors.append(f"client {self.name}: {traceback.format_exc()}")
                shown = self.seat.next()
            if self.load.think:
                stop.wait(self.rnd.uniform(0, self.load.think))

    def _move(self) -> str:
        moves = [(m, w) for m, w in MOVES if m != "undo" or self.stack]
        return self.rnd.choices([m for m, _ in moves], [w for _, w in moves])[0]

    def decide(self, shown: Shown, move: str) -> Shown | None:
        item = shown.item_id
        action, value, reason = self._answer(shown, move)
        held = self.holds(item)
        route = self.store.get_route(item)
        t0 = time.perf_counter()
        try:
            stored, rid, nxt = self.seat.decide(shown, action, value, reason)
        except ReviewConflict as exc:
            self.log.refusals.append(Refusal(self.name, item, "decide", held, str(exc)))
            return self.seat.next()
        ms = (time.perf_counter() - t0) * 1000
        decision = Decision(
            self.name, rid, item, stored, shown.queue, shown.blind, shown.overlap,
            shown.route, route.route if route else None, ms,
        )  # fmt: skip
        self.log.decisions.append(decision)
        self.stack.append(decision)
        return nxt

    def _answer(self, shown: Shown, move: str):
        """(action, value, reason) for the move; a blind item has nothing to accept."""
        if move == "accept" and shown.blind:
            move = "fix"
        if move == "fix":
            return "fix", self.rnd.choice(LABELS), None
        if move == "reject":
            return "reject", None, self.rnd.choice([r for r in REJECT_REASONS if r != "other"])
        return move, None, None

    def undo(self, shown: Shown) -> Shown | None:
        last = self.stack[-1]
        held = self.holds(last.item_id)
        try:
            back = self.seat.undo()
        except ReviewConflict as exc:  # the item is with another reviewer now
            self.log.refusals.append(Refusal(self.name, last.item_id, "undo", held, str(exc)))
            return self.seat.next()
        self.stack.pop()
        route = self.store.get_route(last.item_id)
        restored = last.action == "skip" or (route is not None and route.route == last.leased_route)
        on_screen = back is not None and back.item_id == last.item_id
        self.log.undos.append(
            Undone(self.name, last, restored, self.holds(last.item_id), on_screen)
        )
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
        loop.label(p, stale=True)

    def import_(p: Project) -> None:
        k = next(rounds)
        if k % 2 == 0:  # new items
            rows = texts(load.import_size, f"n{k:04d}-", load.seed)
            path = write_jsonl(p.root.parent / f"new-{k}.jsonl", rows)
            loop.import_file(p, path)
        else:  # a second annotator's labels on items already there
            rows = [r | {"label": rnd.choice(LABELS)} for r in rnd.sample(known, load.import_size)]
            path = write_jsonl(p.root.parent / f"second-{k}.jsonl", rows)
            loop.import_file(p, path, reviewer=ANNOTATOR)

    def calibrate_(p: Project) -> None:
        calibrate.calibrate(p)

    def route(p: Project) -> None:
        router.route(p)

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
    with ExitStack() as opened:
        clients = [
            Client(seat, log, load, k) for k, seat in enumerate(_seats(project, load, opened))
        ]
        work = jobs(project.root, load, log)
        opened.callback(work.pop("close admin")[1])
        threads = [_thread(f"client {c.name}", c.run, stop, log) for c in clients]
        threads += [
            _thread(name, _every(name, pause, fn, log), stop, log)
            for name, (pause, fn) in work.items()
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
    return log, took


def _seats(project: Project, load: Load, opened: ExitStack) -> list:
    """A seat per reviewer, each on a project handle of its own: the first
    ``load.over_http`` on consoles served over HTTP (``labelloop review`` processes), in
    turn; of the others, the first ``load.shared`` share one review service and the rest
    have one each."""
    names = reviewers(load)
    web, local = names[: load.over_http], names[load.over_http :]
    urls = [
        opened.enter_context(console_process(project.root))
        for _ in range(load.servers if web else 0)
    ]
    seats: list = [HttpSeat(n, urls[k % len(urls)], project.store, load) for k, n in enumerate(web)]
    for seat in seats:
        opened.callback(seat.close)
    shared = None
    for k, name in enumerate(local):
        if k < load.shared and shared is not None:
            seats.append(ServiceSeat(name, shared))
            continue
        svc = ReviewService(load_project(project.root))
        opened.callback(svc.close)
        shared = svc if k < load.shared else shared
        seats.append(ServiceSeat(name, svc))
    return seats


@contextmanager
def console_process(root: Path, timeout: float = 90.0) -> Iterator[str]:
    """``labelloop review`` for the project in a process of its own; yields its URL."""
    from tests.support.console import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "labelloop.ui.cli", "review", "--port", str(port), "-p", str(root)]
    log_path = root.parent / f"console-{port}.log"
    with open(log_path, "w") as log:
        console = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if console.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the console did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        console.terminate()
        try:
            console.wait(timeout=20)
        except subprocess.TimeoutExpired:
            console.kill()
            console.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/login", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


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
    unmatched = _number(rows, log, load)
    by_id = {r.id: r for r in rows}
    undone = {r.supersedes for r in rows if r.action == "undo"}
    standing = [r for r in rows if r.action != "undo" and r.id not in undone]
    counts = _decided_twice(standing, load)
    counts |= _lost_or_duplicated(rows, by_id, log, load)
    counts["lost reviews"] += unmatched
    counts |= _undos(rows, log)
    counts["refused while held"] = sum(r.held for r in log.refusals if r.what == "decide")
    counts |= _calibration(standing, log, load)
    counts["errors"] = len(log.errors)
    return counts


def _number(rows, log: Log, load: Load) -> int:
    """Give each decision made over HTTP the id of its row: a reviewer's decisions, in the
    order made, are their rows in the store in id order. Returns the decisions left
    without a row of the same item and action (counted as lost)."""
    if not load.over_http:
        return 0
    left = 0
    for name in reviewers(load)[: load.over_http]:
        made = [d for d in log.decisions if d.client == name]
        stored = [
            r for r in rows if r.reviewer == name and r.source == "console" and r.action != "undo"
        ]
        for d, r in zip(made, stored, strict=False):
            if (d.item_id, d.action) == (r.item_id, r.action):
                d.review_id = r.id
        left += sum(d.review_id is None for d in made)
    return left


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
    the store nobody was told about (a decision written twice). Decisions over HTTP left
    without a row are counted by ``_number``."""
    numbered = [d for d in log.decisions if d.review_id is not None]
    told = Counter(d.review_id for d in numbered)
    told.update(log.admin_reviews)
    lost = sum(
        1
        for d in numbered
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
    made = Counter((u.client, u.decision.review_id) for u in log.undos)
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
