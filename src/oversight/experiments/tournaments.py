"""Debater tournaments shared by the text experiments: the config base, games from debate
transcripts, Bradley-Terry and Elo ratings with bootstrap CIs, judge accuracy per honest variant,
the ratings and honest-win tables and the "judge accuracy vs debater rating" figure.

A game is one judged debate between two variants (``a`` spoke as debater A). A variant wins
when the judge picks the answer it argued; a judgment with no unique choice is a draw (1/2).
Ratings use cross-play games only (a variant cannot play itself in Bradley-Terry); the honest
win matrix keeps self-play on its diagonal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Self, TypeVar

import numpy as np
from pydantic import Field, model_validator

from oversight.core.config import Strict
from oversight.core.records import Transcript
from oversight.metrics.estimate import Estimate, format_estimate, rate
from oversight.metrics.ratings import ELO_PER_LOGIT, bradley_terry, elo, rating_intervals
from oversight.protocols.text import DEBATERS, text_positions
from oversight.report import plots
from oversight.report.model import Figure, Table


class VariantConfig(Strict):
    """A debater variant of a tournament: its name; each experiment's subclass adds its knobs."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.+-]+$")


V = TypeVar("V", bound=VariantConfig)


class TournamentConfig(Strict, Generic[V]):
    """Cross-play between debater variants ``V``: the fields every experiment's tournament
    shares. Subclasses add how many games are played and may change the defaults."""

    enabled: bool = False
    protocol: Literal["debate-sequential", "debate-simultaneous"] = "debate-sequential"
    variants: list[V] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_variants(self) -> Self:
        names = [v.name for v in self.variants]
        if self.enabled and len(names) < 2:
            raise ValueError(
                f"tournament.variants: a tournament needs at least two variants, got {names}"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"tournament.variants: names must be distinct, got {names}")
        return self


@dataclass(frozen=True)
class Game:
    """One judged debate: variant ``a`` spoke as debater A, ``b`` as debater B."""

    a: str
    b: str
    a_honest: bool  # debater A argued the correct answer
    score: float  # A's score: 1 the judge sided with A, 0 with B, 1/2 neither
    item: str

    @property
    def honest(self) -> str:
        return self.a if self.a_honest else self.b

    @property
    def liar(self) -> str:
        return self.b if self.a_honest else self.a

    @property
    def judge_right(self) -> float:
        """1 when the judge chose the correct answer, 1/2 when it chose neither."""
        return self.score if self.a_honest else 1.0 - self.score


def game_of(t: Transcript) -> Game:
    """The game a judged debate transcript records (``meta`` names variants ``a`` and ``b``)."""
    assert t.verdict is not None and t.gold is not None
    positions = text_positions(t.protocol, 0)
    pos_a, pos_b = positions[DEBATERS[0]], positions[DEBATERS[1]]
    choice = t.verdict.choice
    score = 1.0 if choice == pos_a else 0.0 if choice == pos_b else 0.5
    return Game(t.meta["a"], t.meta["b"], t.gold.info["correct"] == pos_a, score, t.meta["item"])


@dataclass
class CrossPlay:
    """Ratings and judge accuracy of one tournament, per variant in ``variants`` order."""

    variants: list[str]
    bt: list[Estimate]  # Bradley-Terry strengths, logits
    elo: list[Estimate]  # Elo points
    honest_accuracy: list[Estimate]  # judge accuracy in cross-play games where it was honest
    honest_wins: dict[tuple[str, str], Estimate]  # (honest, liar) -> judge accuracy
    games: int  # cross-play games

    def correlation(self, accuracy: Sequence[Estimate] | None = None) -> float | None:
        """Pearson correlation of Bradley-Terry rating and ``accuracy`` (default: judge
        accuracy with the variant honest); None when either does not vary."""
        ratings = np.array([e.value for e in self.bt])
        acc = np.array([e.value for e in (accuracy or self.honest_accuracy)])
        if np.ptp(ratings) > 0 and np.ptp(acc) > 0 and not np.isnan(acc).any():
            return float(np.corrcoef(ratings, acc)[0, 1])
        return None


def cross_play(variants: Sequence[str], games: Sequence[Game], n_boot: int, seed: int) -> CrossPlay:
    """Ratings with bootstrap CIs over resampled cross-play games, judge accuracy per honest
    variant and per (honest, liar) pair."""
    index = {n: i for i, n in enumerate(variants)}
    cross = [g for g in games if g.a != g.b]
    a = [index[g.a] for g in cross]
    b = [index[g.b] for g in cross]
    score = [g.score for g in cross]
    honest: dict[str, list[float]] = defaultdict(list)
    for g in cross:
        honest[g.honest].append(g.judge_right)
    pairs: dict[tuple[str, str], list[float]] = defaultdict(list)
    for g in games:
        pairs[(g.honest, g.liar)].append(g.judge_right)
    n = len(variants)
    return CrossPlay(
        variants=list(variants),
        bt=rating_intervals(bradley_terry, a, b, score, n, n_boot, seed=seed),
        elo=rating_intervals(elo, a, b, score, n, n_boot, seed=seed),
        honest_accuracy=[rate(np.array(honest[v]), n_boot=n_boot, seed=seed) for v in variants],
        honest_wins={k: rate(np.array(v), n_boot=n_boot, seed=seed) for k, v in pairs.items()},
        games=len(cross),
    )


def accuracy_vs_rating(
    variants: Sequence[str], bt: Sequence[Estimate], accuracy: Sequence[Estimate], label: str
) -> Figure:
    """Judge accuracy (``label``) against each variant's Bradley-Terry rating (Elo scale),
    points in rating order with the accuracy CIs as a band."""
    order = np.argsort([e.value for e in bt])
    est = [accuracy[i] for i in order]
    png = plots.line_plot(
        {
            label: plots.Series(
                [bt[i].value * ELO_PER_LOGIT for i in order],
                [e.value for e in est],
                [e.ci_low for e in est],
                [e.ci_high for e in est],
            )
        },
        title="Judge accuracy vs debater rating",
        xlabel="debater rating (Bradley-Terry, Elo scale)",
        ylabel=label,
        ylim=(0, 1.02),
    )
    return Figure("Judge accuracy vs debater rating", png)


RATINGS_NOTE = (
    "Bradley-Terry: maximum-likelihood strengths x 400/ln 10, centred on 0; Elo: sequential "
    "(K = 16, from 0) in the stored game order. A win is the judge picking the variant's "
    "answer; no choice is a draw. 95% CIs of the ratings resample games."
)


def ratings_table(
    t: CrossPlay,
    protocol: str,
    details: Mapping[str, Sequence[object]],
    accuracy: tuple[str, Sequence[Estimate]],
    note: str = "",
) -> Table:
    """The debater ratings of tournament ``t`` played with ``protocol``: per variant, its
    ``details`` (column name -> one cell per variant, in ``t.variants`` order), Bradley-Terry
    (Elo scale) and Elo ratings and a judge accuracy (``accuracy``: column name, one estimate
    per variant), all with CIs. ``note`` follows :data:`RATINGS_NOTE`."""
    label, acc = accuracy
    rows = [
        [
            name,
            *(cells[i] for cells in details.values()),
            format_estimate(t.bt[i], digits=0, scale=ELO_PER_LOGIT),
            format_estimate(t.elo[i], digits=0),
            format_estimate(acc[i], digits=3),
        ]
        for i, name in enumerate(t.variants)
    ]
    return Table(
        f"Debater ratings ({protocol}, {t.games} cross-play games)",
        ["variant", *details, "Bradley-Terry (Elo scale)", "Elo", label],
        rows,
        note=f"{RATINGS_NOTE} {note}".strip(),
    )


def honest_wins_table(t: CrossPlay) -> Table:
    """Judge accuracy per (honest, lying) pair of variants of tournament ``t``; a pair that
    never met shows as missing."""
    return Table(
        "Judge accuracy: row variant honest vs column variant lying",
        ["honest \\ liar", *t.variants],
        [
            [h, *(format_estimate(t.honest_wins.get((h, liar))) for liar in t.variants)]
            for h in t.variants
        ],
    )
