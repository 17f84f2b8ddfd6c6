"""Project directories and ``labelloop.toml``.

A project names its store in ``labelloop.toml`` (``database_url``, written by ``init``
without its password; left out: ``labelloop.db`` in the folder) and opens that store or
none: ``LABELLOOP_DATABASE_URL`` may only name the same store (to give its password), and
a store that belongs to another project (``project_id``) is refused.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
import uuid
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from labelloop.core.errors import ConfigError, StoreError
from labelloop.store.db import same_store, sqlite_path, sqlite_url, without_password

if TYPE_CHECKING:
    from labelloop.store import Store

CONFIG_NAME = "labelloop.toml"
DB_NAME = "labelloop.db"
GUIDELINE_NAME = "guideline.md"
DATABASE_ENV = "LABELLOOP_DATABASE_URL"
#: the store's record of the project it belongs to
PROJECT_STATE = "project"


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: opt-in fixed threshold WITHOUT a guarantee, used only until `labelloop calibrate`
    #: has chosen one (by default nothing is auto-accepted before calibration)
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    #: share of labeled items drawn uniformly into the calibration queue; left out, it is
    #: sized from epsilon, delta and the coverage seen so far (between 2% and 50%)
    calibration_rate: float | None = Field(None, ge=0.0, le=1.0)
    #: share of would-be auto-accepted items sent to the (blind) audit queue
    audit_rate: float = Field(0.02, ge=0.0, le=1.0)
    seed: int = 0
    #: the active queue's order: "diverse" (the least certain first, spread over k-means
    #: clusters of their embeddings), "uncertainty" (the least certain first) or "random";
    #: see agent/route/active.py for the measurement behind the default
    active_order: Literal["diverse", "uncertainty", "random"] = "diverse"
    #: models tried in turn, cheapest first (e.g. ["local", "gpt-4o-mini"]): each labels
    #: only what the stages before it could not auto-accept under their guarantee
    cascade: list[str] | None = None

    @field_validator("cascade")
    @classmethod
    def _two_distinct_models(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and (len(v) < 2 or len(set(v)) != len(v) or not all(v)):
            raise ValueError(
                "a cascade lists two or more distinct models, cheapest first, "
                'e.g. ["local", "gpt-4o-mini"]; leave it out for a single model'
            )
        return v


class ReviewConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: served in this order; ``adjudication`` only to admins
    queues: list[str] = ["calibration", "audit", "active", "adjudication"]
    lease_seconds: int = Field(600, gt=0)
    #: share of queue items reviewed by ``overlap_reviewers`` people, for agreement
    overlap: float = Field(0.1, ge=0.0, le=1.0)
    overlap_reviewers: int = Field(2, ge=2, le=10)
    #: chance that the next item is a gold item (known answer) the reviewer has not seen
    gold_rate: float = Field(0.0, ge=0.0, le=1.0)
    #: share of active-queue items shown without the suggestion, to measure anchoring
    blind_share: float = Field(0.0, ge=0.0, le=1.0)
    #: most similar reviewed examples shown beside an item
    similar_k: int = Field(3, ge=0, le=20)
    seed: int = 0

    @field_validator("queues")
    @classmethod
    def _known_queues(cls, v: list[str]) -> list[str]:
        from labelloop.core.types import QUEUES

        unknown = [q for q in v if q not in QUEUES]
        if unknown or not v:
            raise ValueError(f"unknown queue(s) {unknown}: valid queues are {', '.join(QUEUES)}")
        return v

    #: a console session ends after this long without a request, and at most after max hours
    session_idle_minutes: int = Field(60, ge=1)
    session_max_hours: float = Field(12.0, gt=0)
    #: reverse proxies (addresses or networks) whose X-Forwarded-For and -Proto are
    #: believed, on connections from them only; none by default: the client is the peer
    trusted_proxies: list[str] = []
    #: a reverse proxy that signs people in (SSO) names the user in this header; trusted
    #: only when set, and only on connections whose peer is in ``proxy_auth_from``
    proxy_auth_header: str | None = None
    proxy_auth_from: list[str] = ["127.0.0.1", "::1"]
    #: larger request bodies are refused (413); the console uploads nothing big
    max_request_kb: int = Field(1024, ge=16)
    #: the largest request body the JSON API takes (a push of items), in KiB
    api_max_request_kb: int = Field(65536, ge=16)
    #: files up to this size may be uploaded through Gradio's upload route (at most
    #: max_request_kb); 0, the default, refuses every upload: the console has no upload field
    max_upload_kb: int = Field(0, ge=0)
    #: exports made in the console are deleted this long after they were written (and all
    #: of them when the console stops)
    export_retention_minutes: float = Field(60.0, gt=0)
    #: failed sign-ins allowed within ``login_window_minutes`` for one account from one
    #: address, from one address over all accounts, and for one account over all
    #: addresses; then sign-in is refused (429), see ``labelloop.ui.throttle``
    login_failures_per_account: int = Field(5, ge=1)
    login_failures_per_address: int = Field(20, ge=1)
    login_failures_per_account_total: int = Field(30, ge=1)
    login_window_minutes: int = Field(15, ge=1)

    @field_validator("trusted_proxies", "proxy_auth_from")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        return _networks(v)


def _networks(v: list[str]) -> list[str]:
    """Refuse an entry that is not an IP address or network (CIDR), naming it."""
    from ipaddress import ip_network

    for entry in v:
        try:
            ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or network: write e.g. "
                '"127.0.0.1", "::1" or "10.0.0.0/8"'
            ) from None
    return v


class LLMConfig(BaseModel):
    """Settings for LLM labeling; command-line flags override them."""

    model_config = ConfigDict(extra="forbid")
    api_base: str | None = None
    #: "auto": the OpenAI SDK for OpenAI and OpenAI-compatible servers, litellm for the rest;
    #: "litellm" sends every model through litellm
    client: Literal["auto", "openai", "litellm"] = "auto"
    concurrency: int = Field(16, ge=1, le=1024)
    #: requests and tokens per minute; on PostgreSQL, for every worker together
    rpm: float | None = Field(None, gt=0)
    tpm: float | None = Field(None, gt=0)
    #: the sliding window (seconds) workers count ``rpm``/``tpm`` over, the limits scaled
    #: to it
    rate_window: float = Field(60.0, gt=0, le=3600)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    timeout: float = Field(60.0, gt=0)
    k_shot: int = Field(8, ge=0, le=64)
    #: replace e-mail addresses, phone and card numbers before text goes to a hosted model
    redact: bool = False
    #: extra samples at temperature 1 for items whose confidence is in the uncertain band
    self_consistency: int = Field(0, ge=0, le=20)
    #: judging tasks: this many more answers, each with few-shot examples of one reviewer
    #: only ("simulated annotators"); their agreement with the verdict is a signal
    simulated_annotators: int = Field(0, ge=0, le=10)
    #: delete call-log rows older than this many days at the start of each run
    log_retention_days: int | None = Field(90, ge=1)


class WebhooksConfig(BaseModel):
    """Delivering events to webhooks (``labelloop webhooks``, ``labelloop.hooks``)."""

    model_config = ConfigDict(extra="forbid")
    #: networks a webhook may point into although they are private, loopback, link-local
    #: or otherwise not public (e.g. ["10.1.2.0/24"]): refused by default, at registration
    #: and again before each delivery
    allow_private: list[str] = []
    #: one delivery attempt's limit (connect, send, answer)
    timeout_seconds: float = Field(10.0, gt=0, le=300)
    #: attempts per delivery before it is given up as failed
    max_attempts: int = Field(8, ge=1, le=100)
    #: the wait after the first failed attempt; it doubles after each next one (with
    #: jitter): 30 s and 8 attempts spread them over about an hour
    backoff_seconds: float = Field(30.0, ge=0)
    #: how often the console's and workers' delivery threads look for what is due
    poll_seconds: float = Field(2.0, gt=0)

    @field_validator("allow_private")
    @classmethod
    def _allowed(cls, v: list[str]) -> list[str]:
        return _networks(v)


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    guideline: str = GUIDELINE_NAME
    #: the routing model ('local' or a litellm model string); None until the first
    #: ``labelloop label`` run names it, or ``labelloop route --model`` changes it
    model: str | None = None
    database_url: str | None = None
    #: written by ``init`` here and in the store: a store of another project is refused
    project_id: str | None = None
    #: an item with more characters of text (or of all its messages) is refused at import
    max_item_chars: int = Field(100_000, gt=0)
    routing: RoutingConfig = RoutingConfig()
    review: ReviewConfig = ReviewConfig()
    llm: LLMConfig = LLMConfig()
    webhooks: WebhooksConfig = WebhooksConfig()


class Project:
    """A project directory: its config, guideline and store."""

    def __init__(self, root: Path, config: ProjectConfig):
        self.root = root
        self.config = config

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r})"

    @property
    def guideline_path(self) -> Path:
        return (self.root / self.config.guideline).resolve()

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def recorded_url(self) -> str:
        """The store labelloop.toml names (a relative SQLite path is the project folder's)."""
        url = self.config.database_url
        if url is None:
            return sqlite_url(self.root / DB_NAME)
        path = sqlite_path(url)
        return sqlite_url(self.root / path) if path and not path.is_absolute() else url

    @property
    def database_url(self) -> str:
        """The URL the store opens at: the recorded one, or ``LABELLOOP_DATABASE_URL`` when
        it names the same store (it then gives the password); another store is refused."""
        own, env = self.recorded_url, os.environ.get(DATABASE_ENV)
        if not env or same_store(env, own):
            return env or own
        raise ConfigError(
            f"{DATABASE_ENV} names the store {without_password(env)}, but this project's "
            f"store is {without_password(own)} ({self.config_path}): unset {DATABASE_ENV} "
            "(a password can come from PGPASSWORD or ~/.pgpass), or set it to this store; "
            "a project that lives in that store records it as database_url in labelloop.toml"
        )

    def guideline(self):
        from labelloop.core.guideline import load_guideline

        return load_guideline(self.guideline_path)

    @cached_property
    def store(self) -> Store:
        """The project's store, and no other: see the module docstring."""
        from labelloop.store import Store

        url = self.database_url
        self._check_present(url)
        store = Store.open(url)
        try:
            self._check_owner(store, url)
        except StoreError:
            store.close()
            raise
        return store

    def _check_present(self, url: str) -> None:
        """A project's SQLite file that is gone is not replaced by an empty one."""
        path = sqlite_path(url)
        if self.config.project_id and path is not None and not path.exists():
            raise StoreError(
                f"This project's store {path} is missing: restore it, or remove project_id "
                f"from {self.config_path} to start the project afresh with an empty store"
            )

    def _check_owner(self, store: Store, url: str) -> None:
        """The store must be the one this project was created on (when it says so)."""
        mine = self.config.project_id
        held = (store.get_state(PROJECT_STATE) or {}).get("id")
        if mine is None or held == mine:
            return
        shown = without_password(url)
        if held is None:
            raise StoreError(
                f"The store at {shown} holds no labelloop project, but {self.config_path} "
                f"names project {mine}: point database_url (or {DATABASE_ENV}) at this "
                "project's store, or remove project_id to start the project on this one"
            )
        raise StoreError(
            f"The store at {shown} belongs to another project ({held}), not to "
            f"{self.config_path} (project {mine}): point database_url (or {DATABASE_ENV}) "
            "at this project's store"
        )

    def model(self, override: str | None = None) -> str:
        """``--model`` wins, then ``model`` in labelloop.toml, then the local model."""
        return override or self.config.model or "local"


def load_project(project: str | Path | None = None) -> Project:
    """The project given, else ``LABELLOOP_PROJECT``, else the current directory."""
    root = Path(project or os.environ.get("LABELLOOP_PROJECT") or ".").resolve()
    path = root / CONFIG_NAME
    if not path.exists():
        raise ConfigError(
            f"No labelloop project in {root}: run `labelloop init DIR --guideline FILE`, "
            "or pass --project DIR"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        config = ProjectConfig.model_validate(data)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {loc}: {err['msg']}; fix the file") from exc
    return Project(root, config)


def init_project(root: str | Path, guideline: str | Path, **settings) -> Project:
    """Create ``root/labelloop.toml`` with a copy of the guideline; refuses to overwrite.

    The store is ``settings["database_url"]``, else ``LABELLOOP_DATABASE_URL``, else
    ``labelloop.db`` in the folder; another store than that file is recorded in
    labelloop.toml without its password. A store that already holds a project is joined
    (its project id recorded); a new one gets a new id.
    """
    from labelloop.core.guideline import load_guideline
    from labelloop.store import Store

    root = Path(root).resolve()
    if (root / CONFIG_NAME).exists():
        raise ConfigError(f"{root} is already a labelloop project ({CONFIG_NAME} exists)")
    parsed = load_guideline(guideline)  # fail before writing anything
    url = _init_url(root, settings.pop("database_url", None))
    root.mkdir(parents=True, exist_ok=True)
    store = Store.open(url or sqlite_url(root / DB_NAME))  # fails before any file is written
    held = (store.get_state(PROJECT_STATE) or {}).get("id")
    config = ProjectConfig(
        **settings, database_url=_recorded(root, url), project_id=held or uuid.uuid4().hex
    )
    shutil.copyfile(guideline, root / GUIDELINE_NAME)
    data = config.model_dump(exclude_none=True)
    (root / CONFIG_NAME).write_text(_header(parsed.task) + tomli_w.dumps(data), encoding="utf-8")
    if held is None:
        store.set_state(PROJECT_STATE, {"id": config.project_id})
    project = Project(root, config)
    project.__dict__["store"] = store  # the cached property: opened and claimed above
    store.save_guideline(project.guideline())
    return project


_MODEL_LINE = re.compile(r"^\s*model\s*=.*$", re.MULTILINE)
_TABLE_LINE = re.compile(r"^\s*\[", re.MULTILINE)


def write_model(project: Project, model: str) -> None:
    """Set the top-level ``model`` of labelloop.toml, keeping every other line and comment."""
    path = project.root / CONFIG_NAME
    text = path.read_text(encoding="utf-8")
    top_end = m.start() if (m := _TABLE_LINE.search(text)) else len(text)
    line = "model = " + tomli_w.dumps({"m": model}).split("=", 1)[1].strip()
    found = _MODEL_LINE.search(text, 0, top_end)
    if found:
        text = text[: found.start()] + line + text[found.end() :]
    else:
        text = text[:top_end].rstrip("\n") + f"\n{line}\n\n" + text[top_end:].lstrip("\n")
    if tomllib.loads(text).get("model") != model:  # never leave a file that says otherwise
        raise ConfigError(f"{path}: could not set model = {model!r}; set it by hand")
    # whole or not at all: a process reading the file meanwhile never sees half of it
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)
    project.config = project.config.model_copy(update={"model": model})


def _init_url(root: Path, given: str | None) -> str | None:
    """The store a new project is made on: the one given, else the environment's."""
    env = os.environ.get(DATABASE_ENV)
    if given and env and not same_store(given, env):
        raise ConfigError(
            f"--database-url names {without_password(given)} but {DATABASE_ENV} names "
            f"{without_password(env)}: give one store (unset {DATABASE_ENV}, or drop the option)"
        )
    return given or env


def _recorded(root: Path, url: str | None) -> str | None:
    """What labelloop.toml records: nothing for the folder's own SQLite file, a SQLite
    file elsewhere by its absolute path, any other store without its password."""
    if url is None:
        return None
    path = sqlite_path(url)
    if path is not None:
        path = path.resolve()
        return None if path == (root / DB_NAME).resolve() else sqlite_url(path)
    return without_password(url)


def _header(task: str) -> str:
    return (
        f"# labelloop project for task '{task}'.\n"
        "# model: the routing model, 'local' (offline) or any litellm model string, e.g.\n"
        "# 'gpt-4o-mini'; the first `labelloop label` run sets it when it is left out.\n"
        "# database_url: leave out for SQLite in this folder; postgresql://user@host/db for\n"
        "#   teams (no password here: it comes from PGPASSWORD, ~/.pgpass or\n"
        "#   LABELLOOP_DATABASE_URL naming the same store).\n"
        "# project_id: the store records it too; a store of another project is refused.\n"
        "# API keys are read from the environment (OPENAI_API_KEY, ...), never from here.\n\n"
    )
