"""Project directories and ``labelloop.toml``."""

from __future__ import annotations

import os
import shutil
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.errors import ConfigError
from agent.store.db import sqlite_url

CONFIG_NAME = "labelloop.toml"
DB_NAME = "labelloop.db"
GUIDELINE_NAME = "guideline.md"


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
        from agent.types import QUEUES

        unknown = [q for q in v if q not in QUEUES]
        if unknown or not v:
            raise ValueError(f"unknown queue(s) {unknown}: valid queues are {', '.join(QUEUES)}")
        return v

    #: a console session ends after this long without a request, and at most after max hours
    session_idle_minutes: int = Field(60, ge=1)
    session_max_hours: float = Field(12.0, gt=0)
    #: a reverse proxy that signs people in (SSO) names the user in this header; trusted
    #: only when set, and only on connections from ``proxy_auth_from``
    proxy_auth_header: str | None = None
    proxy_auth_from: list[str] = ["127.0.0.1", "::1"]
    #: larger request bodies are refused (413); the console uploads nothing big
    max_request_kb: int = Field(1024, ge=16)
    #: failed sign-ins allowed within ``login_window_minutes`` for one account from one
    #: address, and from one address over all accounts; then sign-in is refused (429)
    login_failures_per_account: int = Field(5, ge=1)
    login_failures_per_address: int = Field(20, ge=1)
    login_window_minutes: int = Field(15, ge=1)


class LLMConfig(BaseModel):
    """Settings for LLM labeling; command-line flags override them."""

    model_config = ConfigDict(extra="forbid")
    api_base: str | None = None
    #: "auto": the OpenAI SDK for OpenAI and OpenAI-compatible servers, litellm for the rest;
    #: "litellm" sends every model through litellm
    client: Literal["auto", "openai", "litellm"] = "auto"
    concurrency: int = Field(16, ge=1, le=1024)
    rpm: float | None = Field(None, gt=0)
    tpm: float | None = Field(None, gt=0)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    timeout: float = Field(60.0, gt=0)
    k_shot: int = Field(8, ge=0, le=64)
    #: replace e-mail addresses, phone and card numbers before text goes to a hosted model
    redact: bool = False
    #: extra samples at temperature 1 for items whose confidence is in the uncertain band
    self_consistency: int = Field(0, ge=0, le=20)
    #: delete call-log rows older than this many days at the start of each run
    log_retention_days: int | None = Field(90, ge=1)


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    guideline: str = GUIDELINE_NAME
    model: str = "local"
    database_url: str | None = None
    #: an item with more characters of text (or of all its messages) is refused at import
    max_item_chars: int = Field(100_000, gt=0)
    routing: RoutingConfig = RoutingConfig()
    review: ReviewConfig = ReviewConfig()
    llm: LLMConfig = LLMConfig()


class Project:
    """A project directory: its config, guideline and store."""

    def __init__(self, root: Path, config: ProjectConfig):
        self.root = root
        self.config = config

    @property
    def guideline_path(self) -> Path:
        return (self.root / self.config.guideline).resolve()

    @property
    def database_url(self) -> str:
        env = os.environ.get("LABELLOOP_DATABASE_URL")
        return env or self.config.database_url or sqlite_url(self.root / DB_NAME)

    def guideline(self):
        from agent.guideline import load_guideline

        return load_guideline(self.guideline_path)

    @cached_property
    def store(self):
        from agent.store import Store

        return Store.open(self.database_url)

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
    """Create ``root/labelloop.toml`` with a copy of the guideline; refuses to overwrite."""
    from agent.guideline import load_guideline

    root = Path(root).resolve()
    if (root / CONFIG_NAME).exists():
        raise ConfigError(f"{root} is already a labelloop project ({CONFIG_NAME} exists)")
    parsed = load_guideline(guideline)  # fail before writing anything
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(guideline, root / GUIDELINE_NAME)
    config = ProjectConfig(**settings)
    data = config.model_dump(exclude_none=True)
    (root / CONFIG_NAME).write_text(_header(parsed.task) + tomli_w.dumps(data), encoding="utf-8")
    project = Project(root, config)
    project.store.save_guideline(project.guideline())
    return project


def _header(task: str) -> str:
    return (
        f"# labelloop project for task '{task}'.\n"
        "# model: 'local' (offline) or any litellm model string, e.g. 'gpt-4o-mini'.\n"
        "# database_url: leave out for SQLite in this folder; postgresql://... for teams.\n"
        "# API keys are read from the environment (OPENAI_API_KEY, ...), never from here.\n\n"
    )
