"""Round trip through a real Label Studio server: labelloop -> Label Studio -> labelloop.

Label Studio's import rules live in its server, not in its SDK, so this script runs one:
a pinned ``label-studio`` in its own virtual environment (``benchmarks/.ls-venv``, made
on first use; never a dependency of labelloop), on a free localhost port, with its data
in a temp folder and every outside address unreachable (a dead proxy, no version check,
no error reporting). For each task shape (single-label, multi-label, spans) it:

1. builds a labelloop project with ``labelloop init`` and ``labelloop import``: reviewers
   named without ``@`` (``rita``, ``j.doe``, ``Ann B``) and by email, "no spans" and "no
   labels" decisions; then, in its store, the routing model's suggestions (predictions)
   and console decisions: accepts of the suggestion (by ``sam``), a reviewer changing her
   mind (``rita``), rejects and skips (which Label Studio has no place for);
2. exports it with ``labelloop export --format labelstudio``;
3. shows Label Studio's verdict on the file before its users exist (it refuses unknown
   emails) and on the old ``{"username": ...}`` form, then creates one Label Studio user
   per email in the file, creates a project with the exported labeling config and imports
   the tasks through ``POST /api/projects/ID/import``;
4. reads them back as an export snapshot naming annotators by email, and as the plain
   export (the Export button's: annotators by user id);
5. imports the snapshot into a fresh labelloop project and compares reviews: each
   reviewer's latest decision before, the reviews after, by item, reviewer and value.

    python benchmarks/ls_roundtrip.py                  # ~6 min on 2 cores (+2 min to install)
    python benchmarks/ls_roundtrip.py --items 50 --ls-version 1.23.2 --keep

Output: ``benchmarks/results/ls_roundtrip.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LS_VERSION = "1.23.2"
DEFAULT_VENV = ROOT / "benchmarks" / ".ls-venv"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "ls_roundtrip.json"
ADMIN = "admin@labelloop.invalid"
TOKEN = "labelloop-roundtrip-token"
#: reviewers of the imported labels: console-style names, one with what an email cannot
#: hold as it is, and an email
REVIEWERS = ("rita", "j.doe", "Ann B", "bo@example.com")
INTENTS = ("card_arrival", "lost_or_stolen_card", "refund", "exchange_rate")
ENTITIES = ("CARD", "CITY", "DATE")
WORDS = {
    "CARD": ("Visa", "Mastercard", "debit", "Amex"),
    "CITY": ("Paris", "Lyon", "Berlin", "Madrid"),
    "DATE": ("Monday", "Friday", "yesterday", "today"),
}
MODEL = "local"


# -- Label Studio in its own environment ----------------------------------------------------


def ensure_venv(venv: Path, version: str) -> float:
    """``venv`` with ``label-studio==version`` installed; the seconds installing took."""
    python = venv / "bin" / "python"
    if python.exists() and installed(python) == version:
        return 0.0
    start = time.perf_counter()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, f"label-studio=={version}"], check=True)
    if installed(python) != version:
        raise SystemExit(f"label-studio {version} did not install in {venv}")
    return time.perf_counter() - start


def installed(python: Path) -> str | None:
    code = "import importlib.metadata as m; print(m.version('label-studio'))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp: Path) -> dict[str, str]:
    """Label Studio's settings for an offline, throwaway server."""
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    for name in ("DATA", "CONFIG", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(tmp / "xdg" / name.lower())
    dead = "http://127.0.0.1:9"  # any request to the outside fails at once
    env.update(
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
        NO_PROXY="127.0.0.1,localhost",
        LABEL_STUDIO_BASE_DATA_DIR=str(tmp / "ls-data"),
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        LATEST_VERSION_CHECK="false",
        COLLECT_ANALYTICS="false",
        FEATURE_FLAGS_OFFLINE="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
    )
    return env


class LabelStudio:
    """A Label Studio server process and its REST API, with the admin's token."""

    def __init__(self, venv: Path, tmp: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "label-studio.log"
        cmd = [
            str(venv / "bin" / "label-studio"),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(tmp / "ls-data"),
            "--username",
            ADMIN,
            "--password",
            "roundtrip-password",
            "--user-token",
            TOKEN,
            "--enable-legacy-api-token",
        ]
        self.fh = open(self.log, "wb")
        self.proc = subprocess.Popen(
            cmd, env=server_env(tmp), stdout=self.fh, stderr=subprocess.STDOUT, cwd=tmp
        )
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def wait(self, timeout: float = 300) -> float:
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"Label Studio exited; see {self.log}")
            try:
                self.call("GET", "/api/version")
                return time.perf_counter() - start
            except (urllib.error.URLError, ConnectionError):
                time.sleep(1)
        raise SystemExit(f"Label Studio did not answer in {timeout:.0f} s; see {self.log}")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Token {TOKEN}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(req, timeout=300) as r:
                return r.status, _json(r.read())
        except urllib.error.HTTPError as e:
            if e.code >= 500:
                raise ConnectionError(f"{method} {path}: HTTP {e.code}") from None
            return e.code, _json(e.read())

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, out = self.call(method, path, body)
        if status >= 300:
            raise SystemExit(f"{method} {path}: HTTP {status}: {str(out)[:500]}")
        return out

    def log_count(self, text: str) -> int:
        self.fh.flush()
        return self.log.read_text(errors="replace").count(text)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.fh.close()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:300]


# -- the labelloop side ---------------------------------------------------------------------


def labelloop(*args: str) -> str:
    """Run the labelloop CLI of this checkout; its output."""
    env = {k: v for k, v in os.environ.items() if k != "LABELLOOP_DATABASE_URL"}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, "-m", "labelloop.ui.cli", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"labelloop {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def guideline_file(path: Path, kind: str) -> Path:
    labels = ENTITIES if kind == "spans" else INTENTS
    sections = "".join(f"### {n}\nThe {n} case.\n\n" for n in labels)
    path.write_text(
        f"---\ntask: roundtrip-{kind}\nunit: text\nkind: {kind}\n---\n"
        f"# Round trip ({kind})\n\nLabel the text.\n\n## Labels\n\n{sections}",
        encoding="utf-8",
    )
    return path


def item_rows(kind: str, n: int, rnd: random.Random) -> list[dict[str, Any]]:
    """n items; most decided by one to three reviewers, some by none."""
    rows = []
    for i in range(n):
        text, spans = span_text(rnd) if kind == "spans" else (intent_text(i, rnd), [])
        row: dict[str, Any] = {"id": f"{kind[:2]}{i:04d}", "text": text}
        if i % 10 != 9:  # every tenth item waits undecided
            who = rnd.sample(REVIEWERS, rnd.randint(1, 3))
            row["annotations"] = [
                {"reviewer": r, **decision(kind, spans, rnd), "time": f"2024-05-01T10:{k:02d}Z"}
                for k, r in enumerate(who)
            ]
        rows.append(row)
    return rows


def intent_text(i: int, rnd: random.Random) -> str:
    return f"Ticket {i}: my {rnd.choice(WORDS['CARD'])} card question, {rnd.random():.3f}"


def span_text(rnd: random.Random) -> tuple[str, list[dict[str, Any]]]:
    """A sentence with one word of each entity type, and those words' spans."""
    parts, spans, pos = [], [], 0
    for label, lead in zip(ENTITIES, ("Lost my", "card in", "on"), strict=True):
        word = rnd.choice(WORDS[label])
        start = pos + len(lead) + 1
        parts.append(f"{lead} {word}")
        spans.append({"start": start, "end": start + len(word), "label": label})
        pos = start + len(word) + 1
    return " ".join(parts), spans


def decision(kind: str, spans: list[dict[str, Any]], rnd: random.Random) -> dict[str, Any]:
    if kind == "single":
        return {"label": rnd.choice(INTENTS)}
    if kind == "multi":  # one in five: "no labels"
        return {"labels": rnd.sample(INTENTS, rnd.choice((0, 1, 1, 2, 3)))}
    return {"spans": rnd.sample(spans, rnd.choice((0, 0, 1, 2, 3)))}  # two in five: no spans


def console_reviews(store, kind: str, rnd: random.Random) -> None:
    """Suggestions from the routing model, and console decisions: accepts of the suggestion
    ("no spans" among them), a reviewer changing her mind, rejects and skips."""
    from labelloop.core.types import Review, Suggestion

    suggestions, reviews = [], []
    for item in store.iter_items():
        value = random_value(kind, item.text, rnd)
        conf = round(rnd.random(), 3)
        suggestions.append(Suggestion(item_id=item.id, model=MODEL, value=value, confidence=conf))
        pick = rnd.random()
        if pick < 0.15:
            reviews.append(Review(item_id=item.id, reviewer="sam", action="accept", value=value))
        elif pick < 0.25:
            fix = random_value(kind, item.text, rnd)
            reviews.append(Review(item_id=item.id, reviewer="rita", action="fix", value=fix))
        elif pick < 0.35:
            reviews.append(Review(item_id=item.id, reviewer="sam", action="reject", reason="x"))
        elif pick < 0.4:
            reviews.append(Review(item_id=item.id, reviewer="al", action="skip"))
    store.add_suggestions(suggestions)
    for r in reviews:
        store.add_review(r)


def random_value(kind: str, text: str, rnd: random.Random):
    from labelloop.core.types import LabelValue, Span

    if kind == "spans":
        picked = rnd.sample(span_text_spans(text), rnd.choice((0, 1, 2)))
        return LabelValue(spans=tuple(Span(**s) for s in picked))
    if kind == "multi":
        return LabelValue(labels=tuple(rnd.sample(INTENTS, rnd.choice((0, 1, 2)))))
    return LabelValue(label=rnd.choice(INTENTS))


def span_text_spans(text: str) -> list[dict[str, Any]]:
    """The entity words of a ``span_text`` sentence, found again by their vocabulary."""
    out = []
    for label, words in WORDS.items():
        for w in words:
            at = text.find(f" {w}")
            if at >= 0:
                out.append({"start": at + 1, "end": at + 1 + len(w), "label": label})
                break
    return out


def decisions(store) -> dict[tuple[str, str], str]:
    """(item, reviewer) -> the value key of the reviewer's latest decisive review that
    Label Studio can hold: what the export should carry."""
    from labelloop.core.types import DECISIVE

    latest: dict[tuple[str, str], Any] = {}
    for r in store.iter_reviews():
        if r.action in DECISIVE and r.value is not None:
            latest[(r.item_id, r.reviewer)] = r.value
    return {k: v.key() for k, v in latest.items() if not v.abstain}


def times(store, keys: dict) -> set[tuple[str, str, str]]:
    """(item, reviewer, time) of each latest review named in ``keys``."""
    latest = {(r.item_id, r.reviewer): r.created_at for r in store.iter_reviews() if r.value}
    return {(*k, latest[k].isoformat()) for k in keys if k in latest}


def review_keys(store) -> dict[tuple[str, str], str]:
    return {(r.item_id, r.reviewer): r.value.key() for r in store.iter_reviews() if r.value}


# -- one task shape -------------------------------------------------------------------------


def run_shape(
    kind: str, n: int, ls: LabelStudio, tmp: Path, seed: int, probes: dict[str, str]
) -> dict[str, Any]:
    """One task shape's round trip; ``probes`` gets Label Studio's verdicts on the file
    before its users exist and in the old ``username`` form (first shape only)."""
    from labelloop.project import load_project

    rnd = random.Random(f"{seed}:{kind}")
    g = guideline_file(tmp / f"{kind}.md", kind)
    src, back, plain = (tmp / f"{kind}-{x}" for x in ("src", "back", "plain"))
    labelloop("init", str(src), "--guideline", str(g), "--model", MODEL)
    rows = tmp / f"{kind}.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in item_rows(kind, n, rnd)), "utf-8")
    labelloop("import", str(rows), "--project", str(src))
    source = load_project(src).store
    console_reviews(source, kind, rnd)
    actions = Counter(r.action for r in source.iter_reviews())
    expected = decisions(source)
    empty = sum(1 for v in expected.values() if v in ('{"spans":[]}', '{"labels":[]}'))

    out = tmp / f"{kind}.labelstudio.json"
    labelloop("export", str(out), "--format", "labelstudio", "--project", str(src))
    tasks = json.loads(out.read_text(encoding="utf-8"))
    config = out.with_suffix(".config.xml").read_text(encoding="utf-8")
    exported = file_counts(tasks)

    pid = ls.ok("POST", "/api/projects", {"title": f"labelloop {kind}", "label_config": config})
    pid = pid["id"]
    users = create_users(ls, tasks, config, probes)
    failed_before = ls.log_count("Prediction validation failed")
    imported = ls.ok("POST", f"/api/projects/{pid}/import", tasks)
    prediction_errors = ls.log_count("Prediction validation failed") - failed_before

    snapshot = read_back(ls, pid)
    (tmp / f"{kind}.from-ls.json").write_text(json.dumps(snapshot), encoding="utf-8")
    plain_tasks = ls.ok("GET", f"/api/projects/{pid}/export?exportType=JSON&download_all_tasks=1")
    (tmp / f"{kind}.from-ls-plain.json").write_text(json.dumps(plain_tasks), encoding="utf-8")

    labelloop("init", str(back), "--guideline", str(g), "--model", MODEL)
    labelloop("import", str(tmp / f"{kind}.from-ls.json"), "--project", str(back))
    again = review_keys(load_project(back).store)
    kept = times(source, expected) & times(load_project(back).store, again)
    labelloop("init", str(plain), "--guideline", str(g), "--model", MODEL)
    labelloop("import", str(tmp / f"{kind}.from-ls-plain.json"), "--project", str(plain))
    by_id = plain_reviews(load_project(plain).store, users)

    return {
        "items": n,
        "source_reviews_by_action": dict(sorted(actions.items())),
        "decisions_to_export": len(expected),
        "empty_decisions": empty,
        "exported": exported,
        "ls_users": len(users),
        "ls_import": {
            k: imported[k] for k in ("task_count", "annotation_count", "prediction_count")
        },
        "ls_prediction_validation_errors": prediction_errors,
        "ls_read_back": file_counts(snapshot),
        "reimported_reviews": len(again),
        "reimported_empty": sum(1 for v in again.values() if v in EMPTY_KEYS),
        "reviewers_before": sorted({r for _, r in expected}),
        "reviewers_after": sorted({r for _, r in again}),
        "review_times_kept": len(kept),
        "mismatches": mismatches(expected, again),
        "plain_export": {
            "annotations": file_counts(plain_tasks)["annotations"],
            "completed_by": sorted(
                {type(a["completed_by"]).__name__ for a in annotations(plain_tasks)}
            ),
            "reimported_reviews": len(by_id),
            "mismatches_after_mapping_user_ids": len(mismatches(expected, by_id)),
        },
    }


EMPTY_KEYS = ('{"spans":[]}', '{"labels":[]}')


def annotations(tasks: list[dict]) -> list[dict]:
    return [a for t in tasks for a in t.get("annotations") or () if not a.get("was_cancelled")]


def file_counts(tasks: list[dict]) -> dict[str, int]:
    anns = annotations(tasks)
    preds = [p for t in tasks for p in t.get("predictions") or ()]
    return {
        "tasks": len(tasks),
        "annotations": len(anns),
        "empty_annotations": sum(1 for a in anns if not a.get("result")),
        "predictions": len(preds),
    }


def username_form(tasks: list[dict]) -> list[dict]:
    """The file as labelloop wrote it before: names without ``@`` as ``{"username": ...}``."""
    from labelloop.ingest.readers import reviewer_of_email

    out = json.loads(json.dumps(tasks))
    for a in annotations(out):
        by = a["completed_by"]
        if isinstance(by, dict) and by["email"].endswith("@labelloop.invalid"):
            a["completed_by"] = {"username": reviewer_of_email(by["email"])}
    return out


def create_users(
    ls: LabelStudio, tasks: list[dict], config: str, probes: dict[str, str]
) -> dict[int, str]:
    """A Label Studio user for each email the file names; user id -> email, admin included.
    Before the first users exist, ``probes`` records what Label Studio makes of the file."""
    existing = {u["email"]: u["id"] for u in ls.ok("GET", "/api/users/")}
    emails = {a["completed_by"]["email"] for a in annotations(tasks)} - set(existing)
    if not probes:
        probes["before_its_users_exist"] = probe(ls, tasks, config)
    for email in sorted(emails):
        user = ls.ok("POST", "/api/users/", {"email": email, "username": email.split("@")[0]})
        existing[email] = user["id"]
    if "old_username_form" not in probes:
        probes["old_username_form"] = probe(ls, username_form(tasks), config)
    return {uid: email for email, uid in existing.items()}


def probe(ls: LabelStudio, tasks: list[dict], config: str) -> str:
    """Label Studio's verdict on importing ``tasks``, in a project made for it and deleted."""
    pid = ls.ok("POST", "/api/projects", {"title": "probe", "label_config": config})["id"]
    answer = ls.call("POST", f"/api/projects/{pid}/import", tasks)
    ls.call("DELETE", f"/api/projects/{pid}/")
    return verdict(answer)


def read_back(ls: LabelStudio, pid: int) -> list[dict]:
    """An export snapshot with annotators and predictions in full."""
    options = {"annotations__completed_by": {"only_id": False}, "predictions": {"only_id": False}}
    snap = ls.ok("POST", f"/api/projects/{pid}/exports/", {"serialization_options": options})
    for _ in range(120):
        if snap.get("status") == "completed":
            break
        time.sleep(1)
        snap = ls.ok("GET", f"/api/projects/{pid}/exports/{snap['id']}")
    return ls.ok("GET", f"/api/projects/{pid}/exports/{snap['id']}/download?exportType=JSON")


def plain_reviews(store, users: dict[int, str]) -> dict[tuple[str, str], str]:
    """Reviews of the plain export (``ls-user-N``) named by the user's email, mapped back."""
    from labelloop.ingest.readers import reviewer_of_email

    out = {}
    for (item, reviewer), key in review_keys(store).items():
        uid = int(reviewer.removeprefix("ls-user-")) if reviewer.startswith("ls-user-") else None
        name = reviewer_of_email(users[uid]) if uid in users else reviewer
        out[(item, name)] = key
    return out


def verdict(answer: tuple[int, Any]) -> str:
    status, body = answer
    if status < 300:
        return f"accepted ({body.get('annotation_count')} annotations)"
    errors = body.get("validation_errors", body) if isinstance(body, dict) else body
    return f"refused, HTTP {status}: {json.dumps(errors)[:200]}"


def mismatches(want: dict, got: dict) -> list[str]:
    out = [f"missing {k}: {want[k]}" for k in sorted(set(want) - set(got))]
    out += [f"extra {k}: {got[k]}" for k in sorted(set(got) - set(want))]
    out += [
        f"changed {k}: {want[k]} -> {got[k]}"
        for k in sorted(want)
        if k in got and want[k] != got[k]
    ]
    return out


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=400, help="items per task shape")
    ap.add_argument("--ls-version", default=LS_VERSION, help="label-studio version to pin")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (printed)")
    args = ap.parse_args()

    install_s = ensure_venv(args.venv, args.ls_version)
    tmp = Path(tempfile.mkdtemp(prefix="ls-roundtrip-"))
    ls = LabelStudio(args.venv, tmp)
    results: dict[str, Any] = {}
    probes: dict[str, str] = {}
    try:
        start_s = ls.wait()
        for kind in ("single", "multi", "spans"):
            results[kind] = run_shape(kind, args.items, ls, tmp, args.seed, probes)
    finally:
        ls.stop()
        if args.keep:
            print(f"files kept in {tmp}")
        else:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
    report = {
        "label_studio": args.ls_version,
        "install_seconds": round(install_s, 1),
        "server_start_seconds": round(start_s, 1),
        "python": sys.version.split()[0],
        "label_studio_verdicts": probes,
        "shapes": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print_table(report)
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    bad = sum(len(r["mismatches"]) for r in results.values())
    sys.exit(1 if bad else 0)


def print_table(report: dict[str, Any]) -> None:
    print(f"Label Studio {report['label_studio']}, server up in {report['server_start_seconds']} s")
    head = ("shape", "tasks", "annotations", "empty", "predictions", "reviews")
    print(f"\n{'':<22}" + "".join(f"{h:>12}" for h in head[1:]))
    for kind, r in report["shapes"].items():
        ex, imp, back = r["exported"], r["ls_import"], r["ls_read_back"]
        rows = [
            ("decided (latest each)", "", r["decisions_to_export"], r["empty_decisions"], "", ""),
            (
                "labelloop export",
                ex["tasks"],
                ex["annotations"],
                ex["empty_annotations"],
                ex["predictions"],
                "",
            ),
            (
                "LS accepted",
                imp["task_count"],
                imp["annotation_count"],
                "",
                imp["prediction_count"],
                "",
            ),
            (
                "LS read back",
                back["tasks"],
                back["annotations"],
                back["empty_annotations"],
                back["predictions"],
                "",
            ),
            ("labelloop re-import", "", "", r["reimported_empty"], "", r["reimported_reviews"]),
        ]
        print(f"{kind}")
        for label, *cells in rows:
            print(f"  {label:<20}" + "".join(f"{c!s:>12}" for c in cells))
        print(f"  reviewers after: {', '.join(r['reviewers_after'])}")
        print(f"  mismatches: {len(r['mismatches'])}; review times kept: {r['review_times_kept']}")
        pe = r["plain_export"]
        print(
            f"  plain export: {pe['annotations']} annotations, annotators as "
            f"{'/'.join(pe['completed_by'])}; mismatches once ids are mapped to users: "
            f"{pe['mismatches_after_mapping_user_ids']}"
        )
    for what, said in report["label_studio_verdicts"].items():
        print(f"Label Studio, {what.replace('_', ' ')}: {said}")


if __name__ == "__main__":
    main()
