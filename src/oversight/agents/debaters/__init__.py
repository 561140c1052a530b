"""Debaters for the pixel-debate game (:mod:`oversight.envs.digits.game`).

- :func:`minimax_values`: exact values under optimal play, for all objectives and first movers;
- :func:`minimax_play`: the final revealed pixels of optimal play against a planning judge;
- :func:`mcts_play`: both debaters search by pure MCTS, as in Irving et al. (2018);
- :func:`greedy_play`: both debaters reveal the pixel with the best immediate judge margin.
"""

from oversight.agents.debaters.greedy import GreedyResult, greedy_play
from oversight.agents.debaters.mcts import MCTSResult, mcts_play
from oversight.agents.debaters.minimax import minimax_play, minimax_values

__all__ = [
    "GreedyResult",
    "MCTSResult",
    "greedy_play",
    "mcts_play",
    "minimax_play",
    "minimax_values",
]
