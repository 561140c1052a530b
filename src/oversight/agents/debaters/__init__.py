"""Debaters for the pixel-debate game (:mod:`oversight.envs.digits.game`).

- :class:`ProofSearch`: exact minimax by proof search (values and plays), the fast solver;
- :func:`minimax_values`, :func:`minimax_play`: the same by scoring every leaf bottom-up, the
  reference it is checked and benchmarked against;
- :func:`mcts_play`: both debaters search by pure MCTS, as in Irving et al. (2018);
- :func:`greedy_play`: both debaters reveal the pixel with the best immediate judge margin.
"""

from oversight.agents.debaters.greedy import GreedyResult, greedy_play
from oversight.agents.debaters.mcts import MCTSResult, mcts_play
from oversight.agents.debaters.minimax import minimax_play, minimax_values
from oversight.agents.debaters.proof import ProofSearch, ProofStats

__all__ = [
    "GreedyResult",
    "MCTSResult",
    "ProofSearch",
    "ProofStats",
    "greedy_play",
    "mcts_play",
    "minimax_play",
    "minimax_values",
]
