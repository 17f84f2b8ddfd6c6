"""The store: all SQL lives in this package."""

from labelloop.store.base import StoreBase
from labelloop.store.batches import BatchesMixin
from labelloop.store.browse import BrowseMixin
from labelloop.store.calibration import CalibrationMixin, Pair
from labelloop.store.calls import CallsMixin
from labelloop.store.evalsets import EvalRun, EvalSet, EvalSetsMixin, RunAnswer
from labelloop.store.exports import ExportsMixin
from labelloop.store.history import HistoryMixin
from labelloop.store.imports import ImportsMixin
from labelloop.store.items import ItemsMixin
from labelloop.store.locks import LocksMixin
from labelloop.store.mappings import MappingsMixin
from labelloop.store.review_queue import ReviewQueueMixin
from labelloop.store.reviews import ReviewsMixin
from labelloop.store.routes import RoutesMixin
from labelloop.store.sessions import SessionsMixin
from labelloop.store.suggestions import SuggestionsMixin
from labelloop.store.tokens import TokensMixin
from labelloop.store.users import UsersMixin
from labelloop.store.webhooks import WebhooksMixin
from labelloop.store.workers import WorkersMixin


class Store(
    BatchesMixin,
    BrowseMixin,
    CalibrationMixin,
    CallsMixin,
    EvalSetsMixin,
    ExportsMixin,
    HistoryMixin,
    ImportsMixin,
    ItemsMixin,
    LocksMixin,
    MappingsMixin,
    SuggestionsMixin,
    RoutesMixin,
    ReviewQueueMixin,
    ReviewsMixin,
    SessionsMixin,
    TokensMixin,
    UsersMixin,
    WebhooksMixin,
    WorkersMixin,
    StoreBase,
):
    """Items, suggestions, routes, reviews, users and state behind one object."""


__all__ = ["EvalRun", "EvalSet", "Pair", "RunAnswer", "Store"]
