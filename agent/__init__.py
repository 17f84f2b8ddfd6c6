"""labelloop: LLM-assisted annotation and review."""

import os

# litellm fetches a price map over the network on import unless told otherwise.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
