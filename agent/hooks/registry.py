"""Registering webhooks: checked URLs, known event types, the secret kept out of the store.

The secret lives in an environment variable (``LABELLOOP_WEBHOOK_SECRET`` unless another is
named) of every process that delivers: the store keeps the variable's name and a short
fingerprint of the secret as it was when the webhook was added (when this process has it),
so that ``labelloop webhooks list`` shows whether a process signs with the same secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labelloop.core.errors import LabelloopError
from labelloop.core.events import EVENT_TYPES
from labelloop.core.records import Webhook
from labelloop.core.types import utcnow
from labelloop.hooks.signing import fingerprint
from labelloop.hooks.targets import check_target

if TYPE_CHECKING:
    from labelloop.project import Project

DEFAULT_SECRET_ENV = "LABELLOOP_WEBHOOK_SECRET"
#: a shorter secret is refused: it could be guessed from one signed request
MIN_SECRET = 16
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: ``secret_state`` in words
SECRET_SAID = {
    "same": "set in this process, as registered",
    "changed": "set in this process, but to another secret than at registration",
    "unknown": "set in this process",
    "missing": "not set in this process: its deliveries fail here until it is",
}


@dataclass(frozen=True)
class Added:
    """A webhook just registered, and a warning for the admin (the secret not set here)."""

    webhook: Webhook
    warning: str | None = None


def add_webhook(
    project: Project,
    url: str,
    events: Sequence[str] | None = None,
    secret_env: str | None = None,
    by: str | None = None,
) -> Added:
    """Register ``url`` for ``events`` (default: every type), signed with the secret in
    the environment variable ``secret_env``; it is told of events from now on."""
    url = (url or "").strip()
    chosen = _events(events)
    env = (secret_env or DEFAULT_SECRET_ENV).strip()
    if not _ENV_NAME.fullmatch(env):
        raise LabelloopError(
            f"{env!r} is not an environment variable name: use letters, digits and _, "
            f"e.g. {DEFAULT_SECRET_ENV}"
        )
    check_target(url, project.config.webhooks.allow_private)
    store = project.store
    same = [h for h in store.list_webhooks() if h.live and h.url == url]
    if same:
        raise LabelloopError(
            f"{url} is webhook {same[0].id} already: `labelloop webhooks remove "
            f"{same[0].id}` first to register it again"
        )
    secret = os.environ.get(env)
    if secret is not None and len(secret) < MIN_SECRET:
        raise LabelloopError(
            f"The secret in {env} is {len(secret)} characters: use at least {MIN_SECRET}, e.g. "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )
    mark = fingerprint(secret) if secret else None
    hook_id = store.add_webhook(url, chosen, env, mark, by, utcnow())
    warning = None
    if not secret:
        warning = (
            f"{env} is not set here: set it to the secret in every process that delivers "
            "(the console, workers, `labelloop webhooks deliver`); until then each attempt "
            "fails and is tried again later"
        )
    return Added(store.get_webhook(hook_id), warning)


def remove_webhook(project: Project, webhook_id: int) -> Webhook:
    """Stop sending to a webhook (its pending deliveries are cancelled, its log stays)."""
    store = project.store
    hook = store.get_webhook(webhook_id)
    if hook is None or not store.remove_webhook(webhook_id, utcnow()):
        raise LabelloopError(f"No webhook {webhook_id}: {_known(project)}")
    return hook


def check_webhook_id(project: Project, webhook_id: int) -> None:
    """Refuse an id that names no webhook (a removed one still has its log)."""
    if project.store.get_webhook(webhook_id) is None:
        raise LabelloopError(f"No webhook {webhook_id}: {_known(project)}")


def secret_state(hook: Webhook) -> str:
    """Whether this process signs with the webhook's secret, as registered: ``same``,
    ``changed`` (another secret than at registration), ``unknown`` (none was set then) or
    ``missing`` (the variable is not set here)."""
    secret = os.environ.get(hook.secret_env)
    if not secret:
        return "missing"
    if hook.secret_fingerprint is None:
        return "unknown"
    return "same" if fingerprint(secret) == hook.secret_fingerprint else "changed"


def _events(events: Sequence[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(e.strip() for e in events or () if e.strip()))
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise LabelloopError(
            f"Unknown event {unknown[0]!r}: valid events are {', '.join(EVENT_TYPES)}"
        )
    return chosen or list(EVENT_TYPES)


def _known(project: Project) -> str:
    ids = [str(h.id) for h in project.store.list_webhooks()]
    return f"webhooks are {', '.join(ids)}" if ids else "there are none (`labelloop webhooks add`)"
