"""Run the digits pixel debate: train the sparse judges, play every game, store outcomes.

Every test image is played 20 ways (10 objectives x 2 first movers) per setting and planning
judge; the judge's evaluations on an image are shared by all of them (minimax scores every leaf
once per image; MCTS and greedy go through a per-image leaf cache). Outcomes are appended per
chunk of images, so a killed run resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.progress import Progress

from oversight.core.errors import OversightError
from oversight.core.jsonl import append_jsonl, read_jsonl
from oversight.core.parallel import fork_map
from oversight.core.runs import RunStore
from oversight.core.seeding import derive_seed, one_torch_thread, rng
from oversight.experiments.digits_debate.analysis import ImageOutcome, wrong_labels
from oversight.experiments.digits_debate.config import DigitsDebateConfig, Setting, setting_id
from oversight.experiments.progress import progress_bar

if TYPE_CHECKING:
    from oversight.judges.sparse_pixel import SparsePixelJudge

Judges = dict[tuple[int, str], "SparsePixelJudge"]
"""The trained judges by (k, role): ``ruling`` and, with robustness on, ``copy``."""

OUTCOMES = "outcomes.jsonl"
NO_PRECOMMIT = 9


@dataclass
class Data:
    x: np.ndarray  # (N, 64) test images in [0, 1]
    y: np.ndarray  # (N,) labels
    nonzero: np.ndarray  # (N, 64) bool
    x_train: np.ndarray
    y_train: np.ndarray


def load_data(cfg: DigitsDebateConfig) -> Data:
    from oversight.envs.digits.data import load_digits_split

    split = load_digits_split(cfg.split_seed)
    n = cfg.test_images or len(split.y_test)
    x, y = split.x_test[:n], split.y_test[:n]
    return Data(x, y, x != 0, split.x_train, split.y_train)


def check_playable(cfg: DigitsDebateConfig, data: Data) -> None:
    """Refuse, before any work, settings no image can be played under."""
    counts = data.nonzero.sum(axis=1)
    fewest = int(counts.min())
    ks = [s.pixels for s in cfg.settings]
    if cfg.mcts_check.enabled:
        ks.append(cfg.mcts_check.pixels)
    for k in ks:
        if k > fewest:
            raise OversightError(
                f"settings: pixels={k} needs {k} nonzero pixels, but test image "
                f"{int(counts.argmin())} has only {fewest}; allowed: 1..{fewest}"
            )


def judges(cfg: DigitsDebateConfig, data: Data, store: RunStore, ks: set[int]) -> Judges:
    """The ruling judge per k and, with robustness on, a copy trained with another seed."""
    from oversight.judges.sparse_pixel import load_judge, save_judge, train_sparse_judge

    roles = ["ruling", "copy"] if cfg.robustness else ["ruling"]
    wanted = [(k, role) for k in sorted(ks) for role in roles]
    path = {key: store.checkpoint(f"judge-k{key[0]}-{key[1]}.pt") for key in wanted}
    out: Judges = {key: load_judge(path[key]) for key in wanted if path[key].exists()}

    def train(key: tuple[int, str]) -> SparsePixelJudge:
        k, role = key
        j = cfg.judge
        return train_sparse_judge(
            data.x_train,
            data.y_train,
            k,
            seed=derive_seed(cfg.seed, "judge", k, role) % 2**31,
            steps=j.steps,
            batch_size=j.batch_size,
            lr=j.lr,
        )

    todo = [key for key in wanted if key not in out]
    with one_torch_thread():  # each judge trains on one thread; the workers run side by side
        trained = fork_map(train, todo, cfg.workers)
    for key, judge in zip(todo, trained, strict=True):
        save_judge(judge, path[key])
        out[key] = judge
    return out


def leaf_fn(
    judge: SparsePixelJudge, x: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The judge as a batched leaf function over (image ids, 64-bit masks)."""
    from oversight.envs.digits.game import mask_to_bool

    return lambda ids, masks: judge.logits(x[ids], mask_to_bool(masks))


def rule(
    judge: SparsePixelJudge,
    x: np.ndarray,
    ids: np.ndarray,
    labels: np.ndarray,
    objectives: np.ndarray,
    masks: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The ruling judge's verdict on final revealed sets: (honest wins, p(true label))."""
    from oversight.envs.digits.game import honest_wins, lie_labels

    logits = leaf_fn(judge, x)(ids, masks).astype(np.float64)
    wins = honest_wins(logits, labels, objectives)
    lies = np.maximum(lie_labels(labels, objectives), 0)  # -1 (no precommit) is unused below
    rows = np.arange(len(ids))
    two = np.stack([logits[rows, labels], logits[rows, lies]], axis=1)
    p_two = _softmax(two)[:, 0]
    p_all = _softmax(logits)[rows, labels]
    return wins, np.where(objectives == NO_PRECOMMIT, p_all, p_two)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def play_chunk(
    s: Setting,
    ids: np.ndarray,
    data: Data,
    planner: SparsePixelJudge,
    ruler: SparsePixelJudge,
    seed: int,
    workers: int = 1,
) -> Iterator[ImageOutcome]:
    """Play all 20 games on each image of ``ids``; masks come from the planner's search
    (exact minimax spreads the images over ``workers`` processes)."""
    from oversight.agents.debaters import ProofSearch, greedy_play, mcts_play
    from oversight.envs.digits.data import nonzero_pixels
    from oversight.envs.digits.game import DebateGames

    games = DebateGames.grid(ids, data.y[ids], data.nonzero)
    plan = leaf_fn(planner, data.x)
    if s.debater == "minimax":

        def exact(i: int) -> np.ndarray:
            search = ProofSearch(
                nonzero_pixels(data.x[i]),
                s.pixels,
                int(data.y[i]),
                int(i),
                planner.pixel_sums(data.x[i]),
                plan,
            )
            return search.play().reshape(-1)

        with one_torch_thread():  # forked children must not enter torch's thread pool
            masks = np.concatenate(fork_map(exact, [int(i) for i in ids], workers))
    elif s.debater == "mcts":
        masks = mcts_play(games, s.pixels, s.rollouts, plan, seed).masks
    else:
        masks = greedy_play(games, s.pixels, plan).masks
    wins, p_true = rule(ruler, data.x, games.image_ids, games.true_labels, games.objectives, masks)
    for j, i in enumerate(ids):
        block = slice(20 * j, 20 * (j + 1))
        yield ImageOutcome(
            setting=setting_id(s),
            planner="",
            image=int(i),
            label=int(data.y[i]),
            honest_wins=wins[block].reshape(10, 2).tolist(),
            p_true=p_true[block].reshape(10, 2).tolist(),
            masks=masks[block].reshape(10, 2).astype(np.uint64).tolist(),
        )


def run(cfg: DigitsDebateConfig, store: RunStore, progress: bool = True) -> dict[str, Any]:
    """Everything the analysis needs: outcomes, judge-alone and control arrays, judges."""
    data = load_data(cfg)
    check_playable(cfg, data)
    path = store.path / OUTCOMES
    done = {(o.setting, o.planner, o.image) for o in read_jsonl(path, ImageOutcome)}
    ks = {s.pixels for s in cfg.settings} | (
        {cfg.mcts_check.pixels} if cfg.mcts_check.enabled else set()
    )
    planners = ["ruling", "copy"] if cfg.robustness else ["ruling"]
    with progress_bar(progress) as bar:
        task = bar.add_task("train judges", total=1)
        js = judges(cfg, data, store, ks)
        bar.advance(task)
        n = len(data.y)
        for s in cfg.settings:
            for planner in planners:
                sid = setting_id(s)
                todo = np.array([i for i in range(n) if (sid, planner, i) not in done], int)
                task = bar.add_task(f"{sid} vs {planner} judge", total=n, completed=n - len(todo))
                for start in range(0, len(todo), cfg.chunk):
                    ids = todo[start : start + cfg.chunk]
                    seed = derive_seed(cfg.seed, "play", sid, planner, int(ids[0])) % 2**31
                    chunk = [
                        o.model_copy(update={"planner": planner})
                        for o in play_chunk(
                            s,
                            ids,
                            data,
                            js[(s.pixels, planner)],
                            js[(s.pixels, "ruling")],
                            seed,
                            cfg.workers,
                        )
                    ]
                    append_jsonl(path, chunk)
                    bar.advance(task, len(ids))
        extras = baselines(cfg, data, js)
        if cfg.mcts_check.enabled:
            extras["mcts_check"] = mcts_check(cfg, data, js, bar)
    outcomes = list(read_jsonl(path, ImageOutcome))
    return {"outcomes": outcomes, "data": data, **extras}


def baselines(cfg: DigitsDebateConfig, data: Data, js: Judges) -> dict[str, Any]:
    """Judge alone, and precommitment without debate (random pixels; the second label random
    or the wrong label the judge ranks highest on those pixels), per image, per k."""
    out: dict[str, Any] = {"judge_alone": {}, "control_random": {}, "control_adversarial": {}}
    for k in sorted({s.pixels for s in cfg.settings}):
        judge = js[(k, "ruling")]
        masks = _random_masks(data, k, rng(cfg.seed, "random-pixels", k))
        logits = judge.logits(data.x, masks)
        rows = np.arange(len(data.y))
        out["judge_alone"][k] = logits.argmax(axis=1) == data.y
        r = rng(cfg.seed, "control-lie", k)
        random_lie = np.array([r.choice(wrong_labels(int(lab))) for lab in data.y])
        wrong = logits.copy()
        wrong[rows, data.y] = -np.inf
        top_lie = wrong.argmax(axis=1)
        true = logits[rows, data.y]
        out["control_random"][k] = true > logits[rows, random_lie]
        out["control_adversarial"][k] = true > logits[rows, top_lie]
    return out


def _random_masks(data: Data, k: int, r: np.random.Generator) -> np.ndarray:
    from oversight.envs.digits.data import random_masks

    return random_masks(data.x, k, r)


def mcts_check(cfg: DigitsDebateConfig, data: Data, js: Judges, bar: Progress) -> dict[str, Any]:
    """Exact minimax at k on a fixed subsample as ground truth for MCTS at several budgets."""
    from oversight.agents.debaters import ProofSearch, mcts_play
    from oversight.envs.digits.data import nonzero_pixels
    from oversight.envs.digits.game import DebateGames

    c = cfg.mcts_check
    k = c.pixels
    ids = rng(cfg.seed, "mcts-check").permutation(len(data.y))[: c.images]
    ruler = js[(k, "ruling")]
    fn = leaf_fn(ruler, data.x)
    task = bar.add_task(f"minimax k={k} ground truth", total=len(ids))

    def exact(i: int) -> np.ndarray:
        px = nonzero_pixels(data.x[i])
        return ProofSearch(px, k, int(data.y[i]), i, ruler.pixel_sums(data.x[i]), fn).values()

    with one_torch_thread():  # forked children must not enter torch's thread pool
        truth = fork_map(exact, [int(i) for i in ids], cfg.workers, lambda: bar.advance(task))
    truth_arr = np.array(truth)  # (images, 10, 2)
    games = DebateGames.grid(ids, data.y[ids], data.nonzero)
    result: dict[str, Any] = {"truth": truth_arr, "rollouts": {}}
    task = bar.add_task("MCTS at each rollout budget", total=len(c.rollouts))
    for rollouts in c.rollouts:
        played = mcts_play(games, k, rollouts, fn, derive_seed(cfg.seed, "check", rollouts) % 2**31)
        result["rollouts"][rollouts] = played.honest_wins.reshape(len(ids), 10, 2)
        bar.advance(task)
    return result
