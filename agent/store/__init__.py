"""The store: all SQL lives in this package."""

from agent.store.base import StoreBase
from agent.store.browse import BrowseMixin
from agent.store.calibration import CalibrationMixin, Pair
from agent.store.calls import CallsMixin
from agent.store.evalsets import EvalRun, EvalSet, EvalSetsMixin, RunAnswer
from agent.store.exports import ExportsMixin, ItemRecord
from agent.store.imports import ImportsMixin
from agent.store.items import ItemsMixin
from agent.store.locks import LocksMixin
from agent.store.mappings import MappingsMixin
from agent.store.review_queue import ReviewQueueMixin
from agent.store.reviews import ReviewsMixin
from agent.store.routes import RoutesMixin
from agent.store.sessions import SessionsMixin
from agent.store.suggestions import SuggestionsMixin
from agent.store.users import UsersMixin


class Store(
    BrowseMixin,
    CalibrationMixin,
    CallsMixin,
    EvalSetsMixin,
    ExportsMixin,
    ImportsMixin,
    ItemsMixin,
    LocksMixin,
    MappingsMixin,
    SuggestionsMixin,
    RoutesMixin,
    ReviewQueueMixin,
    ReviewsMixin,
    SessionsMixin,
    UsersMixin,
    StoreBase,
):
    """Items, suggestions, routes, reviews, users and state behind one object."""


__all__ = ["EvalRun", "EvalSet", "ItemRecord", "Pair", "RunAnswer", "Store"]
