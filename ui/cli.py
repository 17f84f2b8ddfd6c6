"""The ``labelloop`` command: parse, call one library function, print."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labelloop.core.errors import LabelloopError

app = typer.Typer(
    name="labelloop",
    help="LLM-assisted annotation and review: label, calibrate, review, export.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
users_app = typer.Typer(help="Console accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
evalset_app = typer.Typer(
    help="Frozen, versioned eval sets of reviewed items.", no_args_is_help=True
)
app.add_typer(evalset_app, name="evalset")
labels_app = typer.Typer(
    help="Rename, merge or split labels: a guideline edit and a recorded mapping.",
    no_args_is_help=True,
)
app.add_typer(labels_app, name="labels")
guidelines_app = typer.Typer(help="Feedback on the guideline from reviews.", no_args_is_help=True)
app.add_typer(guidelines_app, name="guidelines")
gold_app = typer.Typer(
    help="Gold items: known answers mixed into review queues.", no_args_is_help=True
)
app.add_typer(gold_app, name="gold")
out = Console()
err = Console(stderr=True)

ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="Project folder (default: $LABELLOOP_PROJECT or .)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
InputFormatOpt = Annotated[
    str | None,
    typer.Option("--format", help="jsonl|csv|parquet|labelstudio (default: by extension)"),
]


def _project(project: Path | None):
    from labelloop.project import load_project

    return load_project(project)


@contextmanager
def _loading() -> Iterator[None]:
    """The cyclic garbage collector paused while a command loads its modules and opens the
    project: what they allocate (~1M objects: classes, schemas, the SDK's types) lives as
    long as the process, so the collector's passes over it while it grows find nothing
    (~0.15 s of CPU before a label run's first request). After, it is all moved to the
    oldest generation as one pass would have left it (freeze, then unfreeze: no pass), and
    the collector resumes; reference counting frees as always."""
    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    gc.disable()
    try:
        yield
    finally:
        if not frozen:  # an application's own frozen objects stay frozen
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


def _check_key(proj, model: str | None, api_base: str | None) -> None:
    """A hosted model's missing API key, reported before a run loads or claims anything
    (the check reads the environment only: litellm is not imported for it)."""
    name = proj.model(model)
    if name == "local":
        return
    from labelloop.label.providers.transport import check_credentials

    check_credentials(name, api_base or proj.config.llm.api_base)


@app.command()
def demo(
    no_ui: Annotated[bool, typer.Option("--no-ui", help="Print the summary only.")] = False,
    dir: Annotated[Path, typer.Option("--dir", help="Where to build the demo project.")] = Path(
        "labelloop-demo"
    ),
    host: Annotated[str, typer.Option(help="Console host.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Console port.")] = 7860,
    task: Annotated[
        str,
        typer.Option(
            help="intent: BANKING77 support messages, one label each; entities: WNUT-17 "
            "posts, named entities marked as spans."
        ),
    ] = "intent",
) -> None:
    """Build a demo project from the bundled sample, label it offline, route, open the console."""
    from labelloop.demo import build_demo, demo_task

    demo_task(task)  # an unknown task is refused before the folder is touched
    with _progress("Labeling with the local model") as progress:
        project, summary = build_demo(dir, progress=progress, task=task)
    _print_demo(summary)
    if not no_ui:
        _serve(project, host, port)


@app.command()
def init(
    dir: Annotated[Path, typer.Argument(help="Folder for the new project.")],
    guideline: Annotated[Path, typer.Option(help="The task's guideline (Markdown).")],
    model: Annotated[
        str | None,
        typer.Option(
            help="The routing model: 'local' or any litellm model string (default: the "
            "first model `labelloop label` runs with)."
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="The store, e.g. postgresql://user@host/db (default: $LABELLOOP_DATABASE_URL, "
            "else labelloop.db in DIR); recorded without its password."
        ),
    ] = None,
) -> None:
    """Create a project: DIR/labelloop.toml and a copy of the guideline."""
    from labelloop.project import init_project

    named = {"model": model} if model else {}
    project = init_project(dir, guideline, database_url=database_url, **named)
    g = project.guideline()
    if project.config.database_url:
        out.print(f"Store: {project.config.database_url} (recorded in labelloop.toml)")
    out.print(
        f"Created project [bold]{project.root}[/] for task '{g.task}' "
        f"({_shape(g)}, guideline {g.version}). Next: labelloop import FILE -p {dir}"
    )


def _shape(g) -> str:
    """What a task answers, in a few words: its labels, or what its judges compare."""
    if g.asks_questions:
        return f"{len(g.questions)} questions: {', '.join(g.question_names)}"
    if g.kind == "pairwise":
        return "pairwise: which reply is better" + (", or a tie" if g.allow_tie else "")
    if g.kind == "rating":
        return f"rating each reply on a scale of {len(g.labels)}"
    if g.kind == "ranking":
        return "ranking the replies"
    return f"{len(g.labels)} labels"


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSONL, CSV, Parquet or Label Studio JSON.")],
    format: InputFormatOpt = None,
    reviewer: Annotated[
        str | None, typer.Option(help="Who made the labels in the file (default: the file's name).")
    ] = None,
    sample: Annotated[
        bool,
        typer.Option(
            "--sample",
            help="The rows are a uniform random sample of your data, labeled without seeing "
            "model suggestions: their labels may calibrate auto-acceptance.",
        ),
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Import items; labels present in the file become human reviews. All or nothing."""
    from labelloop import loop

    r = loop.import_file(_project(project), file, fmt=format, reviewer=reviewer, sample=sample)
    changed = (
        f"{r.reviews_changed} changing a reviewer's earlier answer, " if r.reviews_changed else ""
    )
    out.print(
        f"Imported {file}: {r.rows} rows, {r.items_added} new items "
        f"({r.items_existing} already there), {r.reviews_added} reviews added "
        f"({changed}{r.reviews_existing} already there) in {r.seconds:.1f}s"
    )
    if r.still_queued:
        shown = ", ".join(r.still_queued[:5]) + (", ..." if len(r.still_queued) > 5 else "")
        err.print(
            f"[yellow]Note:[/] {len(r.still_queued)} answered items stay queued ({escape(shown)}): "
            "a reviewer has them open, or they wait for answers given in the console "
            "(overlap, adjudication). They are decided there, or by the next `labelloop route` "
            "once nobody holds them.",
            highlight=False,
        )


@app.command()
def label(
    model: Annotated[
        str | None,
        typer.Option(
            help="'local' or a litellm model string; a later cascade stage labels only the "
            "items the stages before it could not auto-accept."
        ),
    ] = None,
    api_base: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Parallel requests.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Label at most N items.")] = None,
    max_cost: Annotated[float | None, typer.Option(help="Stop at this spend (USD).")] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Show what would be labeled; spend nothing.")
    ] = False,
    stale: Annotated[
        bool, typer.Option(help="Also relabel outdated suggestions (the local model always does).")
    ] = False,
    reviewed: Annotated[
        bool,
        typer.Option(
            "--reviewed",
            help="An LLM also labels items people decided (by default it skips them, "
            "calibration items apart).",
        ),
    ] = False,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Queue this run as a job for `labelloop worker` processes (PostgreSQL).",
        ),
    ] = False,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Submit the items to the provider's batch API (about half the price, answers "
            "within 24h) instead of calling live; `labelloop batch collect` (or a later "
            "`labelloop label`) labels the answers.",
        ),
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Propose labels for items that have none from this model; route them when it is the
    routing model (the first run of a project makes it so). Items waiting in a provider
    batch (`--batch`) are left to it; finished batches are collected first.

    On a PostgreSQL store, any number of `labelloop label` and `labelloop worker` processes
    share the work: each item is claimed before it is labeled, and the rate limits and
    --max-cost hold for them together (`labelloop workers` shows who holds what)."""
    with _loading():
        proj = _project(project)
        if not dry_run and not queue:
            _check_key(proj, model, api_base)
        from labelloop import loop

        if not queue and proj.model(model) != "local":
            import labelloop.label.providers.llm  # noqa: F401  (the SDK, while loading)

    options = {
        k: v
        for k, v in (("api_base", api_base), ("concurrency", concurrency), ("max_cost", max_cost))
        if v is not None
    }
    flags = {"limit": limit, "stale": stale, "reviewed": reviewed}
    if dry_run:
        out.print(loop.dry_run(proj, model, **flags, **options))
        return
    if batch:
        _print_submission(loop.label_batch(proj, model, **flags, **options))
        return
    if queue:
        from labelloop.worker import queue_job

        job = queue_job(proj, "label", {"model": model, **flags, **options})
        out.print(f"Queued label job {job}: a `labelloop worker` takes it (`labelloop workers`).")
        return
    with _progress(f"Labeling with {proj.model(model)}") as progress:
        run = loop.label(proj, model, progress=progress, **flags, **options)
    _print_label_run(proj, run, stale, max_cost)
    _deliver_now(proj)


def _print_label_run(proj, run, stale: bool = False, max_cost: float | None = None) -> None:
    """What a label run did, its failures, the crew's part, and the routes after it."""
    out.print(
        f"Labeled {run.labeled} items with {run.model} in {run.seconds:.1f}s "
        f"({run.items_per_second:.1f} items/s), {run.failed} failed"
        + (f"; {run.calls} calls, ${run.cost_usd:.4f}" if run.calls else "")
        + "."
    )
    for reason, n in run.failures.items():
        out.print(f"  {n} failed: {reason}")
    for line in run.batches:
        out.print(line)
    if run.by_others:
        out.print(f"  {run.by_others} items of its list were labeled by other workers.")
    if run.taken_over:
        out.print(
            f"  {run.taken_over} items were taken over from a worker that stopped; its calls "
            "in flight then may have been paid twice (at most its concurrency)."
        )
    if stale:
        out.print(_stale_summary(run))
    if run.stopped_at_budget:
        out.print(
            f"Stopped at the budget (--max-cost {max_cost}"
            + (
                f", shared by the workers labeling with {run.model} at the same time"
                if proj.store.dialect == "postgresql"
                else ""
            )
            + "): "
            f"{max(run.candidates - run.labeled - run.by_others, 0)} items left for a later run."
        )
    if not run.routed:
        out.print(
            f"{run.model} is not the routing model ({run.routing_model}): its suggestions are "
            f"stored and no route changed. `labelloop route --model {run.model}` makes it the "
            "routing model (it shows what would change first)."
        )
        return
    if run.retested is not None:
        out.print(_retest_summary(run.retested))
    _print_routes(proj.store.route_counts())


def _print_submission(sub) -> None:
    for line in sub.settled.summary():
        out.print(line)
    if sub.left_at_budget:
        out.print(
            f"{sub.left_at_budget} items were not submitted: their estimated cost at batch "
            "prices would pass --max-cost. A later run asks them."
        )
    if not sub.submitted:
        out.print("Nothing to submit: every item has a label from this model or waits in a batch.")
        return
    many = "es" if len(sub.submitted) > 1 else ""
    out.print(
        f"Submitted {sub.items} items ({sub.lines} requests) in {len(sub.submitted)} batch{many}: "
        + ", ".join(f"{b.id} ({b.provider_batch_id}, {b.status})" for b in sub.submitted)
        + f". Estimated cost at batch prices: about ${sub.estimate_usd:.4f}. "
        "`labelloop batch status` shows progress; `labelloop batch collect` labels the answers "
        "(a later `labelloop label` does too)."
    )


batch_app = typer.Typer(
    help="Provider batch jobs submitted by `labelloop label --batch`.", no_args_is_help=True
)
app.add_typer(batch_app, name="batch")


@batch_app.command("status")
def batch_status(json_: JsonOpt = False, project: ProjectOpt = None) -> None:
    """Each batch as the provider has it now; a submission stopped before its batch id was
    recorded is found again by its metadata, or marked abandoned (its items free again)."""
    import dataclasses

    from labelloop import loop

    rows, notes = loop.batch_status(_project(project))
    if json_:
        data = [{k: v for k, v in dataclasses.asdict(b).items() if k != "examples"} for b in rows]
        out.print_json(json.dumps({"batches": data, "notes": notes}, default=str))
        return
    for note in notes:
        out.print(note)
    if not rows:
        out.print("No batches: `labelloop label --model MODEL --batch` submits one.")
        return
    out.print(f"Batches: {len(rows)} ({sum(b.collected_at is None for b in rows)} not collected).")
    for b in rows:  # a line each: readable in an 80-column terminal, ids whole for copying
        c = b.request_counts or {}
        counts = f"{c.get('completed', 0)} done, {c.get('failed', 0)} failed of {c.get('total', 0)}"
        status = f"collected ({b.status})" if b.collected_at else b.status
        created = f", created {b.created_at:%Y-%m-%d %H:%M}" if b.created_at else ""
        out.print(
            f"  {b.id}  {b.model}  {status}: {b.items} items, {counts}{created}; provider "
            f"batch {b.provider_batch_id or '(none recorded)'}"
        )


@batch_app.command("collect")
def batch_collect(
    model: Annotated[str | None, typer.Option(help="Only this model's batches.")] = None,
    project: ProjectOpt = None,
) -> None:
    """Download finished batches, label their answers through the same parsing as live
    calls (invalid answers are re-asked live) and route, as `labelloop label` does."""
    from labelloop import loop

    proj = _project(project)
    settled = loop.collect_batches(proj, model)
    if not settled:
        out.print("No open batches.")
        return
    for s in settled:
        for line in s.summary():
            out.print(line)
    if any(s.collected for s in settled):
        _print_routes(proj.store.route_counts())


def _retest_summary(r: dict) -> str:
    """What the re-test after a retrain found (nothing of the new version was auto-accepted
    before it)."""
    head = "The model was retrained: auto-acceptance was re-tested"
    if r.get("threshold") is None:
        return (
            f"{head} on {r.get('calibration_pairs', 0)} calibration pairs and nothing is "
            "auto-accepted until a threshold is certified again. " + (r.get("guarantee") or "")
        )
    return (
        f"{head} on {r['calibration_pairs']} calibration pairs (look {r['look']}): threshold "
        f"{r['threshold']:.3f} auto-accepts {r['coverage']:.0%} of items. {r['guarantee']}"
    )


@app.command()
def route(
    model: Annotated[str, typer.Option(help="The model whose suggestions route items.")],
    dry_run: Annotated[bool, typer.Option(help="Show what would change; change nothing.")] = False,
    project: ProjectOpt = None,
) -> None:
    """Make MODEL the routing model (labelloop.toml) and route on its suggestions; shows the
    route changes."""
    from labelloop.core.types import Route
    from labelloop.route import router
    from labelloop.route import state as route_state

    proj = _project(project)
    before = route_state.routing_model(proj)
    changes = router.switch_routing_model(proj, model, apply=not dry_run)
    table = Table("from", "to", "items", title=f"Routes: {before} -> {model}")
    for (a, b), n in sorted(changes.items(), key=lambda kv: -kv[1]):
        table.add_row(a, b, str(n))
    out.print(table if changes else "No route changes.")
    unrouted = sum(n for (_, to), n in changes.items() if to == Route.UNLABELED)
    if unrouted:
        out.print(
            f"[yellow]{unrouted} items have no suggestion from {model} and "
            f"{'would leave' if dry_run else 'left'} their queues:[/] "
            f"`labelloop label --model {model}` labels them."
        )
    if dry_run:
        out.print(f"Nothing changed; rerun without --dry-run to route on {model}.")
        return
    out.print(f"{model} is now the routing model (labelloop.toml).")
    _print_routes(proj.store.route_counts())


def _stale_summary(run) -> str:
    line = f"Relabeled {run.relabeled} outdated suggestions: {run.changed} changed label"
    if run.changes:
        line += " (" + ", ".join(f"{k}: {n}" for k, n in run.changes.items()) + ")"
    return line + "."


@app.command()
def calibrate(
    target_accuracy: Annotated[
        float, typer.Option(help="Accuracy the auto-accepted labels must reach (1 - epsilon).")
    ] = 0.95,
    delta: Annotated[float, typer.Option(help="Allowed chance that the guarantee fails.")] = 0.05,
    model: Annotated[
        str | None,
        typer.Option(help="Calibrate this cascade stage only (default: every stage in order)."),
    ] = None,
    json_: JsonOpt = False,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Queue this as a job for `labelloop worker` processes (PostgreSQL).",
        ),
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Fit calibration on blind calibration reviews, choose the auto-accept threshold, route."""
    from labelloop.route.calibrate import calibrate as run_calibrate

    if queue:
        from labelloop.worker import queue_job

        args = {"model": model, "target_accuracy": target_accuracy, "delta": delta}
        job = queue_job(_project(project), "calibrate", args)
        out.print(
            f"Queued calibrate job {job}: a `labelloop worker` takes it (`labelloop workers`)."
        )
        return
    proj = _project(project)
    report = run_calibrate(proj, target_accuracy, delta, model=model)
    _deliver_now(proj)
    if json_:
        print(json.dumps(report, indent=2, default=str))
        return
    for stage in report.get("stages", [report]):
        _print_calibration(stage)
    if "stages" in report:
        out.print(report["guarantee"])
    for later in report.get("stale_stages", []):
        out.print(
            f"{later} now auto-accepts nothing: the items reaching it changed; "
            f"run `labelloop calibrate --model {later}`"
        )
    _print_routes(report["routes"])


@app.command()
def review(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
    project: ProjectOpt = None,
) -> None:
    """Serve the review console."""
    _serve(_project(project), host, port)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="reviewer or admin.")] = "reviewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Create a console account (or reset its password and role)."""
    from labelloop.review.auth import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    store = _project(project).store
    add_user(store, name, role, password)
    note = ""
    if store.get_user(name).disabled:
        note = f" It stays disabled: `labelloop users enable {name}` lets it sign in."
    out.print(f"User {name} ({role}) saved.{note}")


@users_app.command("list")
def users_list(project: ProjectOpt = None) -> None:
    """The console accounts, their roles, and which are disabled."""
    table = Table("user", "role", "status")
    for user in _project(project).store.list_users():
        table.add_row(user.name, user.role, "disabled" if user.disabled else "enabled")
    out.print(table)


NameArg = Annotated[str, typer.Argument(help="Login name.")]


@users_app.command("disable")
def users_disable(name: NameArg, project: ProjectOpt = None) -> None:
    """Stop an account signing in: its sessions end and its items go back to the queues."""
    from labelloop.review.auth import disable_user

    disable_user(_project(project).store, name)
    out.print(f"User {name} disabled and signed out.")


@users_app.command("enable")
def users_enable(name: NameArg, project: ProjectOpt = None) -> None:
    """Let a disabled account sign in again."""
    from labelloop.review.auth import disable_user

    disable_user(_project(project).store, name, disabled=False)
    out.print(f"User {name} enabled.")


@users_app.command("delete")
def users_delete(name: NameArg, project: ProjectOpt = None) -> None:
    """Remove an account's login; the reviews it made stay, under its name."""
    from labelloop.review.auth import delete_user

    delete_user(_project(project).store, name)
    out.print(f"User {name} deleted; their reviews stay.")


tokens_app = typer.Typer(help="API tokens (one user's key to the JSON API).", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
def tokens_create(name: NameArg, project: ProjectOpt = None) -> None:
    """Print a new API token for an existing account, with its role; it is shown this once
    (the store keeps only its hash)."""
    from labelloop.review.tokens import create_token

    store = _project(project).store
    token = create_token(store, name)
    err.print(
        f"API token for {name} ({store.get_user(name).role}); it is not shown again, and "
        f"`labelloop tokens revoke {name}` ends it:"
    )
    print(token)


@tokens_app.command("revoke")
def tokens_revoke(
    name: NameArg,
    token_id: Annotated[
        int | None, typer.Option("--id", help="Only this token (see `tokens list`).")
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Revoke an account's API tokens (or one of them): they stop working at once."""
    from labelloop.review.tokens import revoke_tokens

    n = revoke_tokens(_project(project).store, name, token_id)
    out.print(f"Revoked {n} token{'s' if n != 1 else ''} of {name}.")


@tokens_app.command("list")
def tokens_list(project: ProjectOpt = None) -> None:
    """API tokens: whose, made when, last used, revoked (never the tokens themselves)."""
    rows = _project(project).store.list_tokens()
    if not rows:
        out.print("No API tokens yet: `labelloop tokens create NAME` makes one.")
    for t in rows:
        used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "live"
        out.print(
            f"  {t.id}  {t.user}  {t.prefix}...  made {t.created_at:%Y-%m-%d %H:%M}, {used}, "
            f"{state}"
        )


webhooks_app = typer.Typer(
    help="Webhooks: events (item.decided, calibration.done, audit.alarm) POSTed, signed, to "
    "receivers you register.",
    no_args_is_help=True,
)
app.add_typer(webhooks_app, name="webhooks")
#: how long a command that made an event tries to deliver it before it exits
FIRST_DELIVERY_S = 5.0


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="The receiver: an http(s) URL on a public address.")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            help="item.decided, calibration.done or audit.alarm; repeat for several "
            "(default: all three).",
        ),
    ] = None,
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env",
            help="The environment variable that holds the signing secret in every process "
            "that delivers (default: LABELLOOP_WEBHOOK_SECRET); only its name is stored.",
        ),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Register a webhook: events from now on are POSTed to URL as JSON, signed with
    HMAC-SHA256 (X-Labelloop-Signature)."""
    from labelloop.hooks.registry import add_webhook

    added = add_webhook(_project(project), url, event, secret_env)
    hook = added.webhook
    out.print(
        f"Webhook {hook.id}: {hook.url} gets {', '.join(hook.events)}, signed with the "
        f"secret in {hook.secret_env}.",
        highlight=False,
    )
    if added.warning:
        err.print(f"[yellow]Note:[/] {escape(added.warning)}", highlight=False)


@webhooks_app.command("list")
def webhooks_list(json_: JsonOpt = False, project: ProjectOpt = None) -> None:
    """Webhooks: URL, events, the secret's variable (and whether this process has that
    secret), live or disabled."""
    from labelloop.hooks.registry import SECRET_SAID, secret_state

    hooks = _project(project).store.list_webhooks()
    if json_:
        from dataclasses import asdict

        rows = [asdict(h) | {"secret_here": secret_state(h)} for h in hooks]
        print(json.dumps(rows, indent=2, default=str))
        return
    if not hooks:
        out.print("No webhooks yet: `labelloop webhooks add URL` registers one.")
    for h in hooks:
        state = "live"
        if not h.live:
            state = f"disabled {h.disabled_at:%Y-%m-%d %H:%M}: {h.disabled_reason}"
        mark = f", fingerprint {h.secret_fingerprint}" if h.secret_fingerprint else ""
        by = f" by {h.created_by}" if h.created_by else ""
        out.print(
            f"  {h.id}  {h.url}  {', '.join(h.events)}  secret {h.secret_env}{mark} "
            f"({SECRET_SAID[secret_state(h)]})  {state}; added {h.created_at:%Y-%m-%d %H:%M}{by}",
            highlight=False,
            soft_wrap=True,
        )


@webhooks_app.command("remove")
def webhooks_remove(
    webhook_id: Annotated[int, typer.Argument(metavar="ID", help="The webhook (see `list`).")],
    project: ProjectOpt = None,
) -> None:
    """Stop sending to a webhook: what it still had to get is cancelled; its log stays."""
    from labelloop.hooks.registry import remove_webhook

    hook = remove_webhook(_project(project), webhook_id)
    out.print(f"Webhook {hook.id} ({hook.url}) removed.", highlight=False)


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    webhook: Annotated[int | None, typer.Option("--webhook", help="Only this webhook's.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="The newest N deliveries.")] = 20,
    json_: JsonOpt = False,
    project: ProjectOpt = None,
) -> None:
    """The delivery log: each delivery (newest first) with every attempt's time, status
    code or error, and duration."""
    from labelloop.hooks.registry import check_webhook_id

    proj = _project(project)
    if webhook is not None:
        check_webhook_id(proj, webhook)
    rows = proj.store.webhook_deliveries(webhook, limit)
    if json_:
        from dataclasses import asdict

        print(json.dumps([asdict(d) for d in rows], indent=2, default=str))
        return
    if not rows:
        out.print("No deliveries yet: events are sent to webhooks registered before them.")
    for d in rows:
        when = (
            f", next try {d.next_attempt_at:%Y-%m-%d %H:%M:%S}"
            if d.status == "pending" and d.next_attempt_at
            else ""
        )
        out.print(
            f"  {d.uid}  webhook {d.webhook_id}  {d.kind}  {d.status} after {d.attempts} "
            f"attempt{'s' if d.attempts != 1 else ''}{when}",
            highlight=False,
            soft_wrap=True,
        )
        for a in d.log:
            said = f"  {a.error}" if a.error else ""
            code = a.status_code if a.status_code is not None else "-"
            out.print(
                f"      #{a.attempt}  {a.at:%Y-%m-%d %H:%M:%S}  {code}  {a.duration_ms} ms{said}",
                highlight=False,
                soft_wrap=True,
            )


@webhooks_app.command("deliver")
def webhooks_deliver(project: ProjectOpt = None) -> None:
    """Send every delivery that is due now, then exit (for cron; the console and workers
    deliver on their own)."""
    from labelloop.hooks.delivery import deliver_due

    proj = _project(project)
    done = deliver_due(proj)
    out.print(
        f"{done.recorded} new events; {done.attempts} attempts: {done.delivered} delivered, "
        f"{done.retrying} to try again later, {done.failed} failed."
    )
    due = proj.store.next_delivery_at()
    if due is not None:
        out.print(f"Next delivery due {due:%Y-%m-%d %H:%M:%S} UTC.")


def _deliver_now(proj) -> None:
    """Try to deliver the events a command just made, for a few seconds at most: what is
    not delivered by then waits in the store for the console, a worker or `labelloop
    webhooks deliver`."""
    if not any(h.live for h in proj.store.list_webhooks()):
        return
    import time

    from labelloop.hooks.delivery import deliver_due

    try:
        deliver_due(proj, timeout=FIRST_DELIVERY_S, deadline=time.monotonic() + FIRST_DELIVERY_S)
    except Exception as exc:  # the events stay in the store: a later pass sends them
        err.print(
            f"[yellow]Webhooks not delivered yet[/] ({escape(str(exc))}); they are kept and "
            "sent later."
        )


AdminOpt = Annotated[str, typer.Option("--by", help="The admin account adding them.")]


@gold_app.command("add")
def gold_add(
    file: Annotated[Path, typer.Argument(help="Labeled items, in any import format.")],
    by: AdminOpt,
    format: InputFormatOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Make the file's items gold, its labels their known answers (items already imported)."""
    from labelloop.review.gold import add_gold_file

    n = add_gold_file(_project(project), file, by, fmt=format)
    out.print(f"{n} gold items saved from {file}.")


@gold_app.command("from-import")
def gold_from_import(
    by: AdminOpt,
    import_id: Annotated[
        int | None,
        typer.Option("--import-id", help="One import's labels (default: every --sample import)."),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Make the labeled items of an import gold (default: the imports marked --sample)."""
    from labelloop.review import gold as review_gold

    n = review_gold.gold_from_import(_project(project), by, import_id)
    source = "sample imports" if import_id is None else f"import {import_id}"
    out.print(f"{n} gold items saved from {source}.")


@app.command()
def export(
    out_path: Annotated[Path, typer.Argument(metavar="OUT", help="File to write.")],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="jsonl, csv, labelstudio (+ OUT.config.xml), hf (a Parquet folder) "
            "or conll (span guidelines). Default: csv for a .csv file, else jsonl.",
        ),
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option(help="Only items waiting in calibration|audit|active|adjudication."),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Export items with suggestions, routes, final labels and reviews."""
    from labelloop.api import export_items

    n = export_items(_project(project), out_path, format, queue=queue)
    conll = (format or "") == "conll" and queue is None
    left = " (items without a final answer are left out: --format jsonl has them all)"
    if out_path.exists():
        out.print(f"Wrote {n} rows to {out_path}{left if conll else ''}")
        return
    from labelloop.export.conll import question_path  # one file per span question

    g = _project(project).guideline()
    files = [question_path(out_path, q.name) for q in g.questions if q.kind == "spans"]
    written = ", ".join(str(f) for f in files if f.exists())
    out.print(f"Wrote {n} rows to {written}{left if conll else ''}")


@app.command()
def worker(
    model: Annotated[
        str | None, typer.Option(help="The model to label with (default: the project's).")
    ] = None,
    api_base: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Parallel requests.")] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(help="Stop each run at this spend (USD), shared with the other workers."),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Exit when there is nothing left to do.")
    ] = False,
    poll: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait when there is nothing to do.")
    ] = 5.0,
    project: ProjectOpt = None,
) -> None:
    """Run queued label and calibrate jobs and label new items, sharing the work with every
    other worker on the PostgreSQL store, until stopped (Ctrl-C, SIGTERM)."""
    import signal
    import threading

    from labelloop.worker import work

    proj = _project(project)
    stop = threading.Event()

    def stopping(*_):
        if stop.is_set():  # a second signal: stop now
            raise KeyboardInterrupt
        err.print("Stopping after the current run (again to stop now)...")
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    options = {
        k: v
        for k, v in (("api_base", api_base), ("concurrency", concurrency), ("max_cost", max_cost))
        if v is not None
    }
    out.print(f"Worker on {proj.root} labeling with {proj.model(model)}; Ctrl-C stops it.")

    def on_run(run) -> None:
        if run.labeled or run.by_others or run.taken_over:
            _print_label_run(proj, run)

    def on_job(job, result, error) -> None:
        said = "failed: " + error.strip().splitlines()[-1] if error else "done"
        out.print(f"Job {job.id} ({job.kind}) {said}")

    shift = work(proj, model, once=once, poll=poll, stop=stop, on_run=on_run, on_job=on_job,
                 **options)  # fmt: skip
    out.print(
        f"Worker stopped: {shift.labeled} items labeled in {shift.runs} runs, "
        f"{shift.failed} failed, {len(shift.jobs)} jobs."
    )


@app.command()
def workers(json_: JsonOpt = False, project: ProjectOpt = None) -> None:
    """Labeling processes on the store (running now, or ended in the last day): what each
    holds, has labeled and spent; and the queued jobs."""
    from labelloop.core.types import utcnow

    proj = _project(project)
    store = proj.store
    rows = store.workers()
    jobs = store.jobs()
    if json_:
        from dataclasses import asdict

        print(json.dumps({"workers": [asdict(w) for w in rows], "jobs": [asdict(j) for j in jobs]},
                         indent=2, default=str))  # fmt: skip
        return
    if store.dialect != "postgresql":
        out.print(
            "This project's store is SQLite: one labeling process per model at a time. "
            "Workers need a PostgreSQL store (database_url in labelloop.toml)."
        )
    now = utcnow()
    running = [w for w in rows if w.status == "running"]
    ended = [w for w in rows if w.status != "running"]
    out.print(f"Workers: {len(running)} running, {len(ended)} ended in the last day.")
    for w in running + ended[:20]:
        state = w.status
        if state == "running" and w.expires_at is not None and w.expires_at < now:
            state = "lapsed (no heartbeat: stopped or unreachable)"
        end = w.finished_at if w.finished_at is not None else now
        took = _duration((end - w.started_at).total_seconds()) if w.started_at else "?"
        beat = (
            f", beat {(now - w.heartbeat_at).total_seconds():.0f}s ago"
            if w.status == "running" and w.heartbeat_at
            else ""
        )
        out.print(
            f"  {':'.join(w.holder.split(':')[:2])}  {w.command} {w.model}  {state} "
            f"({took}{beat}): holds {w.leases}, in flight {w.in_flight}, labeled {w.labeled}, "
            f"taken over {w.taken_over}, ${w.spent_usd:.4f}"
        )
    if len(ended) > 20:
        out.print(f"  ... and {len(ended) - 20} more ended (--json lists them all).")
    if jobs:
        out.print(f"Jobs: {sum(j.status == 'queued' for j in jobs)} queued.")
        for j in jobs:
            by = f" by {':'.join(j.holder.split(':')[:2])}" if j.holder else ""
            why = f": {j.error.strip().splitlines()[-1]}" if j.error else ""
            out.print(
                f"  job {j.id} {j.kind} {j.status}{by}, queued {j.created_at:%Y-%m-%d %H:%M:%S}"
                f" {json.dumps(j.args)}{why}"
            )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@app.command()
def status(json_: JsonOpt = False, project: ProjectOpt = None) -> None:
    """Counts per route and queue, spend, calibration state, audit alarm."""
    from labelloop.route.status import project_status

    data = project_status(_project(project))
    if json_:
        print(json.dumps(data, indent=2, default=str))
        return
    _print_status(data)


@app.command("eval")
def eval_(
    json_: JsonOpt = False,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Write report.md, report.html and PNG plots to this folder."),
    ] = None,
    evalset: Annotated[
        str | None,
        typer.Option(
            help="Compare runs on this eval set; with --model or --prompt-version, label it "
            "first (a new run)."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="'local' or a litellm model string.")] = None,
    prompt_version: Annotated[
        str | None,
        typer.Option(help="Prompt template, e.g. classify.v2 (the project's prompts/ first)."),
    ] = None,
    api_base: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    compare: Annotated[
        tuple[int, int] | None,
        typer.Option(metavar="RUN_A RUN_B", help="Runs to compare (default: the last two)."),
    ] = None,
    n_boot: Annotated[
        int | None,
        typer.Option(
            "--n-boot",
            min=0,
            help="Bootstrap resamples of the 95% intervals (default 1000; a judging task's "
            "model rankings: 200, each a Bradley-Terry refit). 0: no intervals.",
        ),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Agreement (model vs people, people vs people) and calibration report; with
    --evalset, runs on a frozen eval set side by side. For a judging task (pairwise, rating,
    ranking) also each judge's position bias and the models' rankings (Bradley-Terry scores
    and win rates) from people, the judge and the final labels."""
    from labelloop.evals.report import BOOTSTRAP
    from labelloop.evals.report_render import judging_summary
    from labelloop.learn.evaluate import evaluate, write_report

    if evalset is not None:
        _eval_set_runs(_project(project), evalset, model, prompt_version, api_base, compare, json_)
        return
    if model or prompt_version or compare:
        raise LabelloopError("--model, --prompt-version and --compare need --evalset NAME")
    figures = evaluate(_project(project), BOOTSTRAP if n_boot is None else n_boot, n_boot)
    if out_dir is not None:
        written = write_report(figures, out_dir)
        (err if json_ else out).print(f"Wrote {len(written)} files to {out_dir}")
    if json_:
        print(json.dumps(figures, indent=2, default=str))
        return
    for part in _by_question(figures):
        _print_eval(part)
        for line in judging_summary(part):
            out.print(line, markup=False, highlight=False, soft_wrap=True)


def _by_question(figures: dict) -> list[dict]:
    """The report's parts to print: one per question of a guideline that asks several."""
    if "questions" not in figures:
        return [figures]
    return [{**part, "task": f"{figures['task']}/{q}"} for q, part in figures["questions"].items()]


def _eval_set_runs(proj, name, model, prompt_version, api_base, runs, json_: bool) -> None:
    from labelloop.evals.compare import to_markdown
    from labelloop.learn import evalrun

    if model or prompt_version:
        options = {"api_base": api_base} if api_base else {}
        with _progress(f"Labeling eval set {name} with {proj.model(model)}"):
            made = evalrun.run(proj, name, model, prompt_version, **options)
        (err if json_ else out).print(
            f"Run {made.id}: {made.items} items with {made.model} "
            f"(prompt {made.prompt_version}), {made.failed} failed."
        )
    result = evalrun.compare_runs(proj, name, runs)
    if json_:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(to_markdown(result), end="")


@evalset_app.command("create")
def evalset_create(
    name: Annotated[str, typer.Argument(help="Name of the set; creating it again adds a version.")],
    size: Annotated[int | None, typer.Option(min=1, help="Items to draw (default: all).")] = None,
    stratify: Annotated[
        bool, typer.Option(help="Draw each gold label in its share of the reviewed items.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the random draw.")] = 0,
    project: ProjectOpt = None,
) -> None:
    """Freeze reviewed items and their consensus labels as a new version of an eval set."""
    from labelloop.learn import evalsets

    es = evalsets.create(_project(project), name, size=size, stratify=stratify, seed=seed)
    out.print(
        f"Froze eval set {es.name} v{es.version}: {len(es.gold)} items of "
        f"{es.params['eligible']} with a consensus label (guideline {es.guideline_version})."
    )


@evalset_app.command("list")
def evalset_list(json_: JsonOpt = False, project: ProjectOpt = None) -> None:
    """Every version of every eval set."""
    from labelloop.learn import evalsets

    rows = evalsets.listing(_project(project))
    if json_:
        print(json.dumps(rows, indent=2, default=str))
        return
    table = Table("name", "version", "items", "guideline", "runs", "created")
    for r in rows:
        table.add_row(r["name"], str(r["version"]), str(r["items"]), r["guideline_version"],
                      str(r["runs"]), r["created_at"].isoformat(timespec="seconds"))  # fmt: skip
    out.print(table if rows else "No eval sets yet: labelloop evalset create NAME")


@evalset_app.command("show")
def evalset_show(
    name: Annotated[str, typer.Argument(help="Eval set name.")],
    version: Annotated[int | None, typer.Option(help="Version (default: the latest).")] = None,
    json_: JsonOpt = False,
    project: ProjectOpt = None,
) -> None:
    """One eval set version: how it was drawn, its gold labels, its runs."""
    from labelloop.learn import evalsets

    data = evalsets.show(_project(project), name, version)
    if json_:
        print(json.dumps(data, indent=2, default=str))
        return
    out.print(
        f"[bold]{data['name']}[/] v{data['version']}: {data['items']} items, guideline "
        f"{data['guideline_version']}, drawn with size={data.get('size')}, "
        f"stratify={data.get('stratify')}, seed={data.get('seed')}"
    )
    table = Table("gold label", "items")
    for label, n in (data.get("labels") or {}).items():
        table.add_row(label, str(n))
    out.print(table)
    table = Table("run", "model", "prompt", "guideline", "items", "failed", "cost")
    for r in data["runs"]:
        table.add_row(str(r["id"]), r["model"], r["prompt_version"], r["guideline_version"],
                      str(r["items"]), str(r["failed"]), f"${r['cost_usd']:.4f}")  # fmt: skip
    out.print(table)


@labels_app.command("rename")
def labels_rename(
    old: Annotated[str, typer.Argument(help="Label to rename.")],
    new: Annotated[str, typer.Argument(help="Its new name.")],
    project: ProjectOpt = None,
) -> None:
    """Rename a label in the guideline, the reviews and the suggestions."""
    from labelloop.learn import labelmap

    _print_mapping(labelmap.rename(_project(project), old, new))


@labels_app.command("merge")
def labels_merge(
    sources: Annotated[list[str], typer.Argument(help="Labels to merge (two or more).")],
    into: Annotated[str, typer.Option(help="The merged label (new, or one of them).")],
    project: ProjectOpt = None,
) -> None:
    """Merge labels into one, in the guideline, the reviews and the suggestions."""
    from labelloop.learn import labelmap

    _print_mapping(labelmap.merge(_project(project), sources, into))


@labels_app.command("split")
def labels_split(
    old: Annotated[str, typer.Argument(help="Label to split.")],
    into: Annotated[str, typer.Option(help="The new labels, comma-separated: X,Y.")],
    project: ProjectOpt = None,
) -> None:
    """Split a label: the guideline gets one section per new label; its items go to people."""
    from labelloop.learn import labelmap

    names = [n.strip() for n in into.split(",") if n.strip()]
    _print_mapping(labelmap.split(_project(project), old, names))


def _print_mapping(r: dict) -> None:
    g = r["guideline"]
    out.print(
        f"Label mapping {r['id']} ({r['kind']}: {r['change']}): guideline {g['before']} -> "
        f"{g['after']} written to {g['path']}; {r['reviews_mapped']} reviews and "
        f"{r['suggestions_mapped']} suggestions mapped, {r['items_reopened']} items sent "
        "back to people."
    )
    if r["kind"] == "split":
        out.print("Edit the new label sections in the guideline: they start as copies.")
    _print_routes(r["routes"])


@guidelines_app.command("suggest")
def guidelines_suggest(
    top: Annotated[int, typer.Option(min=1, help="How many label pairs.")] = 5,
    json_: JsonOpt = False,
    project: ProjectOpt = None,
) -> None:
    """Label pairs most confused (model vs people, people vs people), with examples and
    comments; with an LLM configured, a proposed clarification for each."""
    from labelloop.learn.feedback import suggest

    data = suggest(_project(project), top=top)
    if json_:
        print(json.dumps(data, indent=2, default=str))
        return
    _print_feedback(data)


def _print_feedback(d: dict) -> None:
    for who in ("model_vs_humans", "humans"):
        title = "Model vs people" if who == "model_vs_humans" else "People vs people"
        pairs = d[who]
        out.print(f"[bold]{title}[/]: {len(pairs)} confused label pairs")
        for p in pairs:
            out.print(f"- {p['a']} / {p['b']}: {p['count']} items")
            for ex in p["examples"]:
                said = ", ".join(f"{k}: {v}" for k, v in ex["labels"].items())
                out.print(f"    {ex['id']}: {ex['text'][:100]!r} ({said})")
                for c in ex["comments"]:
                    out.print(f"      comment: {c}")
            if p.get("proposal"):
                out.print(f"  Proposed clarification: {p['proposal']}")
    out.print(d["note"])


def _print_eval(f: dict) -> None:
    from labelloop.evals.report_render import fmt

    c = f["consensus"]
    # a judging task's "tie" is an answer: say what the count is
    left = (
        "left out without a majority"
        if f.get("kind") in ("pairwise", "rating", "ranking")
        else "ties"
    )
    out.print(
        f"[bold]{f['task']}[/]: consensus on {c['items']} items ({c['ties']} {left}), "
        f"reviewers: {', '.join(f['reviewers']) or 'none'}"
    )
    # spans: exact-match accuracy of the whole answer, and span F1 (exact boundaries, label)
    spans = any("span_exact_f1" in m["vs_consensus"] for m in f["models"].values())
    f1 = ("span F1 [95% CI]",) if spans else ()
    table = Table("model", "vs", "items", "accuracy [95% CI]", *f1, "ECE", "coverage@95%")
    for model, m in f["models"].items():
        cal = m["calibration"]
        extra = (fmt(cal["ece"]), fmt(cal["coverage_at_target"]))
        c = m["vs_consensus"]
        span_f1 = (fmt(c.get("span_exact_f1")),) if spans else ()
        table.add_row(model, "consensus", str(c["n"]), fmt(c["accuracy"]), *span_f1, *extra)
        for who, r in m["vs_reviewers"].items():
            span_f1 = (fmt(r.get("span_exact_f1")),) if spans else ()
            table.add_row("", who, str(r["n"]), fmt(r["accuracy"]), *span_f1, "", "")
    out.print(table)
    table = Table("reviewers", "items", "agreement", "Cohen's kappa")
    for p in f["humans"]["pairs"]:
        table.add_row(f"{p['a']} / {p['b']}", str(p["n"]), fmt(p["percent_agreement"]),
                      fmt(p.get("cohen_kappa")))  # fmt: skip
    overall = f["humans"]["overall"]
    if overall:
        table.add_row("all", str(f["humans"]["items"]), fmt(overall["percent_agreement"]),
                      f"Fleiss {fmt(overall.get('fleiss_kappa'))}, "
                      f"alpha ({overall.get('alpha_level', 'n/a')}) "
                      f"{fmt(overall.get('krippendorff_alpha'))}")  # fmt: skip
    out.print(table)


def _serve(project, host: str, port: int) -> None:
    from labelloop.ui.server import check_servable, serve

    check_servable(project, host, port)  # said before anything is printed as running
    out.print(f"Review console on http://{host}:{port} (Ctrl+C to stop)")
    out.print(f"JSON API on http://{host}:{port}/api/v1 (labelloop tokens create NAME)")
    serve(project, host, port)


class _progress:
    """A rich progress bar fed by ``progress(done, total)`` callbacks."""

    def __init__(self, title: str):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            refresh_per_second=4,  # redrawn by a thread: 10 Hz cost ~0.3 ms of CPU per item
        )
        self.title = title
        self.task = self.bar.add_task(title, total=None)

    def __enter__(self):
        self.bar.start()
        return self

    def __call__(
        self, done: int, total: int, cost_usd: float | None = None, errors: int | None = None
    ) -> None:
        if cost_usd is None:
            self.bar.update(self.task, completed=done, total=total)
            return
        elapsed = self.bar.tasks[0].elapsed or 0.0
        rate = done / elapsed if elapsed else 0.0
        self.bar.update(
            self.task,
            completed=done,
            total=total,
            description=f"{self.title}: {rate:.1f} items/s, ${cost_usd:.4f}, {errors or 0} errors",
        )

    def __exit__(self, *exc) -> None:
        self.bar.stop()


def _print_routes(routes: dict[str, int]) -> None:
    table = Table("route", "items")
    for route, n in routes.items():
        table.add_row(route, str(n))
    out.print(table)


def _print_demo(s) -> None:
    _print_routes(s.routes)
    pct = lambda x: "n/a" if x is None else f"{x:.1%}"  # noqa: E731
    if s.span_f1_unreviewed is not None or s.auto_accepted_with_spans is not None:
        _print_span_demo(s, pct)
        return
    out.print(
        f"Demo project: {s.project}\n"
        f"{s.items} items; {s.imported_reviews} gold labels imported as reviews; "
        f"{s.labeled} items labeled by the local model in {s.label_seconds:.1f}s.\n"
        f"Local model accuracy against gold on items it labeled (not reviewed): "
        f"{pct(s.accuracy_unreviewed)}.\n"
        f"Calibrated threshold: {'none passed' if s.threshold is None else f'{s.threshold:.3f}'}"
        f". {s.guarantee}\n"
        f"Auto-accepted: {s.auto_accepted} items; their accuracy against the held-back gold: "
        f"{pct(s.accuracy_auto_accepted)}.\n"
        f"Console login: {s.user} / {s.password}"
    )


def _print_span_demo(s, pct) -> None:
    """A span task's summary: exact match of an item's spans, span-F1, and the
    auto-accepted items split by whether the model found spans in them."""
    num = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    out.print(
        f"Demo project: {s.project} (task: {s.task})\n"
        f"{s.items} items; {s.imported_reviews} gold answers (spans, or none) imported as "
        f"reviews; {s.labeled} items labeled by the local model in {s.label_seconds:.1f}s.\n"
        f"Local model on items it labeled (not reviewed): exact-match accuracy (every span "
        f"right, no span missing or extra) {pct(s.accuracy_unreviewed)}; span F1 (micro, "
        f"exact boundaries and label) {num(s.span_f1_unreviewed)}.\n"
        f"Calibrated threshold: {'none passed' if s.threshold is None else f'{s.threshold:.3f}'}"
        f". {s.guarantee}\n"
        f"Auto-accepted: {s.auto_accepted} items; their exact-match accuracy against the "
        f"held-back gold: {pct(s.accuracy_auto_accepted)}. With spans: "
        f"{s.auto_accepted_with_spans} items, {pct(s.accuracy_auto_with_spans)}; with no "
        f"spans: {s.auto_accepted_without_spans} items, {pct(s.accuracy_auto_without_spans)}.\n"
        f"Console login: {s.user} / {s.password}"
    )


def _print_calibration(r: dict) -> None:
    num = lambda x, f="{:.3f}": "n/a" if x is None else f.format(x)  # noqa: E731
    stage = f"stage {r['stage']}: " if r.get("stage") else ""
    if r.get("skipped"):
        out.print(f"{stage}{r['model']}: not calibrated, {r['skipped']}")
        return
    table = Table("", "value", title=f"{stage}{r['model']}" if stage else None)
    signal = r.get("score_signal")
    pairs = (
        f"{r['calibration_pairs']}, every one tests (one ordering signal: {signal})"
        if signal
        else f"{r['calibration_pairs']} ({r.get('fit_pairs', 0)} fit / "
        f"{r.get('test_pairs', 0)} test)"
    )
    rows = [
        ("model", r["model"]),
        ("calibration pairs", pairs),
        (
            "drawn: answered blind / skipped (counted wrong) / waiting",
            f"{r.get('drawn', 0)}: {r.get('answered_blind', 0)} / "
            f"{r.get('counted_wrong', 0)} / {r.get('waiting_blind', 0)}",
        ),
        ("sample imports outside the draw (pairs too)", str(r.get("imported_outside", 0))),
        (
            "drawn, out of the population: reviewed elsewhere / passed by the active queue",
            f"{r.get('reviewed_elsewhere', 0)} / {r.get('passed_active', 0)}",
        ),
        ("skipped calibration items", str(r.get("skipped_calibration_items", 0))),
        ("look (δ of this look)", f"{r.get('look') or 'n/a'} ({num(r.get('look_delta'), '{:g}')})"),
        (f"threshold (on {signal})" if signal else "threshold", num(r["threshold"])),
        ("coverage (share auto-accepted)", num(r["coverage"], "{:.1%}")),
        ("observed accuracy above threshold", num(r.get("observed_accuracy"), "{:.1%}")),
        ("error upper bound", num(r.get("error_upper_bound"), "{:.1%}")),
        ("ECE before / after", f"{num(r.get('ece_before'))} / {num(r.get('ece_after'))}"),
        ("Brier before / after", f"{num(r.get('brier_before'))} / {num(r.get('brier_after'))}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)
    out.print(r["guarantee"])
    if r.get("threshold") is None and r.get("reason"):
        out.print(f"Why: {r['reason']}")
    if held := r.get("certified_in_force"):
        out.print(
            f"Still auto-accepted: the labels of the model version look {held['look']} "
            f"certified, at or above {held['threshold']:.4f} on "
            f"{held.get('score_signal') or 'the calibrated probability'}; that look's "
            "guarantee stands, and the newer labels wait for a look that certifies them."
        )
    if r.get("outlook"):
        out.print(r["outlook"]["summary"])
    if r.get("outdated_suggestions"):
        out.print(
            f"{r['outdated_suggestions']} drawn items have a suggestion of another version and "
            "wait: `labelloop label --stale` refreshes them."
        )
    for name, path in (r.get("plots") or {}).items():
        out.print(f"{name.replace('_', '-')} plot: {path}")
    if r.get("questions"):
        _print_question_calibration(r["questions"])


def _num(x, f: str = "{:.3f}") -> str:
    return "n/a" if x is None else f.format(x)


def _print_question_calibration(qs: dict) -> None:
    """Each question's look: what routes its answers (the table above is the item as a
    whole, every answer right, which routes nothing when each question has its own)."""
    out.print("The table above is the item as a whole (every answer right); each question's")
    out.print("own threshold decides whether its answer is auto-accepted:")
    table = Table(
        "question", "pairs", "threshold", "coverage", "observed accuracy", "error bound", "look"
    )
    for q, r in qs.items():
        table.add_row(
            q,
            str(r["calibration_pairs"]),
            _num(r["threshold"]),
            _num(r["coverage"], "{:.1%}"),
            _num(r.get("observed_accuracy"), "{:.1%}"),
            _num(r.get("error_upper_bound"), "{:.1%}"),
            str(r.get("look") or "n/a"),
        )
    out.print(table)
    for r in qs.values():
        out.print(r["guarantee"])


def _print_status(d: dict) -> None:
    out.print(
        f"[bold]{d['task']}[/] (guideline {d['guideline_version']}), model {d['model']}: "
        f"{d['items']} items, {d['reviews']} reviews"
    )
    table = Table("route", "items")
    for route, n in d["routes"].items():
        table.add_row(route, str(n))
    out.print(table)
    table = Table("queue", "waiting")
    for q, n in d["queues"].items():
        table.add_row(q, str(n))
    out.print(table)
    if d.get("answered_waiting"):
        out.print(
            f"{d['answered_waiting']} of the waiting items already have one answer: they wait "
            f"for a second reviewer's (review.overlap = {d['overlap']:g} of items get two "
            "answers), and are decided once the two agree"
        )
    for f in d["failures"]:
        out.print(f"failed: {f['items']} items: {f['reason']}")
    if d["llm"]:
        table = Table("model", "calls", "errors", "prompt tokens", "output tokens", "cost")
        for model, v in d["llm"].items():
            table.add_row(
                model,
                str(v["calls"]),
                str(v["errors"]),
                str(v["prompt_tokens"]),
                str(v["completion_tokens"]),
                f"${v['cost_usd']:.4f}",
            )
        out.print(table)
    else:
        out.print("No LLM calls yet: nothing spent (the local model makes none).")
    cal = d["calibration"]
    if d.get("cascade"):
        _print_cascade(d["cascade"])
    else:
        if cal.get("guarantee"):
            whole = " (the item as a whole, every answer right)" if d.get("questions") else ""
            out.print(f"Calibration{whole}: run {cal.get('run_id')}. {cal['guarantee']}")
        out.print(d["calibration_outlook"]["summary"])
    if d.get("questions"):
        table = Table("question", "pairs", "threshold", "coverage", "auto-accepted items")
        for q, x in d["questions"].items():
            table.add_row(
                q,
                str(x["calibration_pairs"]),
                _num(x["threshold"]),
                _num(x["coverage"], "{:.1%}"),
                str(x["auto_accepted_items"]),
            )
        out.print(table)
        for x in d["questions"].values():
            if x["guarantee"]:
                out.print(x["guarantee"])
    if d.get("routing_note"):
        out.print(f"[yellow]Note:[/] {d['routing_note']}")
    alarm = d["audit_alarm"]
    out.print(
        "Audit alarm: "
        + ("[red]ON[/] " + alarm.get("reason", "") if alarm.get("active") else "off")
    )


def _print_cascade(c: dict) -> None:
    table = Table(
        "stage", "model", "reached", "labeled", "kept", "auto-accepted", "audit", "threshold"
    )
    for s in c["stages"]:
        cal = s["calibration"]
        threshold = f"{cal['threshold']:.3f}" if cal["threshold"] is not None else "none"
        table.add_row(
            str(s["stage"]),
            s["model"],
            str(s["reached"]),
            str(s["labeled"]),
            str(s["kept"]),
            str(s["auto_accepted"]),
            str(s["audit"]),
            threshold if cal["calibrated"] else f"{threshold} ({cal['why_not']})",
        )
    out.print(table)
    saved = c["saved"]
    out.print(
        f"Cascade saved {saved['llm_calls_avoided']} LLM calls "
        f"(${saved['cost_avoided_usd']:.4f} at each model's average cost per call)"
        + (
            f"; price unknown for {', '.join(saved['price_unknown'])}, counted as $0"
            if saved["price_unknown"]
            else ""
        )
        + "."
    )


def main() -> None:
    """Entry point: errors become one line unless LABELLOOP_DEBUG=1; a traceback (debug, or
    a bug) is printed with credentials removed: a provider's error may echo the key."""
    try:
        app()
    except LabelloopError as exc:
        if os.environ.get("LABELLOOP_DEBUG"):
            _print_traceback(exc)
        else:
            # escaped: a message may quote "[words](label)", which is not markup
            message = escape(_redacted(str(exc)))
            err.print(f"[red]Error:[/] {message}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        _print_traceback(exc)
        sys.exit(1)


def _redacted(text: str) -> str:
    from labelloop.label.redact import env_secrets, redact_secrets

    return redact_secrets(text, env_secrets())


def _print_traceback(exc: BaseException) -> None:
    """The traceback (causes and contexts included), as Python prints it, minus secrets."""
    import traceback

    sys.stderr.write(_redacted("".join(traceback.format_exception(exc))))
    sys.stderr.flush()


if __name__ == "__main__":
    main()
