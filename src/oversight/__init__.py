"""oversight: AI-assisted evaluation (critiques, debate, recursive reward modeling) and the
measurements that tell whether it works.

The packages, lowest layer first: :mod:`oversight.core` (records, run folder),
:mod:`oversight.envs` (environments with gold oracles), :mod:`oversight.metrics`,
:mod:`oversight.models` (LLMs), :mod:`oversight.prompts`, :mod:`oversight.report`,
:mod:`oversight.protocols` (the engine and :func:`~oversight.protocols.play`),
:mod:`oversight.judges`, :mod:`oversight.learning`, :mod:`oversight.agents`,
:mod:`oversight.experiments`, :mod:`oversight.web`. Importing this package loads none of them.
"""

__version__ = "0.1.0"
