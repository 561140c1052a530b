"""Language-model access for LLM agents and judges, through Inspect's model API.

Nothing in the core imports this package; Inspect itself is imported only when an
:class:`InspectModel` is made, so the toolkit installs and runs without the ``llm`` extra.
"""

from oversight.models.base import (
    ChatModel,
    CostLimitReached,
    Generation,
    ModelCall,
    ModelUsage,
    Sampling,
    ScriptedModel,
    UsageLedger,
    generate_batch,
    run_async,
)
from oversight.models.inspect_api import InspectModel, ModelSettings, mock_output
from oversight.models.prices import PriceTable, load_prices

__all__ = [
    "ChatModel",
    "CostLimitReached",
    "Generation",
    "InspectModel",
    "ModelCall",
    "ModelSettings",
    "ModelUsage",
    "PriceTable",
    "Sampling",
    "ScriptedModel",
    "UsageLedger",
    "generate_batch",
    "load_prices",
    "mock_output",
    "run_async",
]
