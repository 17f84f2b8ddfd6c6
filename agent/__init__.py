"""labelloop: LLM-assisted annotation and review.

The package is the loop, one folder a stage: ``ingest`` -> ``label`` -> ``route``
(calibration and routing) -> ``review`` -> ``learn`` -> ``export``, over ``project``,
``store`` and ``core``; ``loop`` runs the stages in order, ``ui`` holds the CLI and the
review console, ``evals`` the agreement and calibration figures.

The names below (``labelloop.api``) drive the loop from Python; they load on first use, so
``import labelloop`` stays cheap::

    import labelloop

    project = labelloop.open_project("my-project")
    labelloop.label_items(project)
    print(labelloop.status(project).routes)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# litellm fetches a price map over the network on import unless told otherwise.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"

if TYPE_CHECKING:
    from labelloop.api import (
        Calibration,
        ImportResult,
        LabelRun,
        Project,
        ProjectLike,
        ReviewSession,
        Status,
        add_user,
        calibrate,
        create_project,
        export_items,
        import_file,
        import_rows,
        label_items,
        open_project,
        review_session,
        status,
    )
    from labelloop.core.errors import ConfigError, LabelloopError

__all__ = [
    "Calibration",
    "ConfigError",
    "ImportResult",
    "LabelRun",
    "LabelloopError",
    "Project",
    "ProjectLike",
    "ReviewSession",
    "Status",
    "__version__",
    "add_user",
    "calibrate",
    "create_project",
    "export_items",
    "import_file",
    "import_rows",
    "label_items",
    "open_project",
    "review_session",
    "status",
]

_ERRORS = {"ConfigError", "LabelloopError"}


def __getattr__(name: str) -> Any:
    if name in _ERRORS:
        from labelloop.core import errors

        return getattr(errors, name)
    if name in __all__:
        from labelloop import api

        return getattr(api, name)
    raise AttributeError(f"module 'labelloop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
