"""A sparse-pixel judge for the image debate (Irving, Christiano & Amodei 2018, section 3.1).

The judge sees only ``k`` revealed pixels of an 8x8 digit and predicts its label. Its input is
two planes of 64 values each (:func:`judge_input`): a 0/1 mask of the revealed pixels, then the
pixel values with every hidden pixel set to zero, so nothing about a hidden pixel can leak. The
mask plane lets the judge tell "revealed and dark" from "hidden".

The paper's judge is a CNN; on 8x8 images a small MLP (128 -> 256 -> 256 -> 10, ReLU) does the
job and is fast enough for exact game-tree search: :meth:`SparsePixelJudge.logits` takes
thousands of masks in one call. It is trained (:func:`train_sparse_judge`) as in the paper: Adam,
batch 128, a fresh random mask of ``k`` nonzero pixels for every example of every batch.

torch is imported at module level: import this module lazily (nothing in ``oversight`` imports
it at import time), so that ``import oversight`` works without torch.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from oversight.core.errors import OversightError
from oversight.core.files import atomic_path, read_checkpoint
from oversight.core.seeding import derive_seed, deterministic_torch, rng
from oversight.envs.digits.data import N_CLASSES, N_PIXELS, random_masks

INPUT_DIM = 2 * N_PIXELS
HIDDEN = 256
CHUNK = 1024  # rows per forward pass: activations stay in cache; faster than 8192 on one core
DEFAULT_STEPS = (
    8_000  # 20-25 s per judge on one CPU thread; sparse accuracy ~0.50 (k=4), ~0.63 (k=6)
)
_BLOCK = 64  # training steps whose inputs are built in one vectorized call
_FORMAT = "oversight.sparse_pixel_judge/1"


def judge_input(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The judge's view ``(B, 128)`` float32: the mask plane, then values times the mask.

    ``images`` is ``(B, 64)`` (or ``(64,)`` broadcast against the masks), ``masks`` is ``(B, 64)``
    boolean. Hidden pixels are zero in the value plane whatever the image holds there.
    """
    masks = np.asarray(masks, dtype=bool)
    images = np.asarray(images, dtype=np.float32)
    if masks.ndim == 1:
        masks = masks[None, :]
    if images.ndim == 1:
        images = images[None, :]
    if masks.shape[-1] != N_PIXELS or images.shape[-1] != N_PIXELS:
        raise ValueError(
            f"images and masks need {N_PIXELS} pixels, got {images.shape} and {masks.shape}"
        )
    batch = max(images.shape[0], masks.shape[0])
    out = np.empty((batch, INPUT_DIM), dtype=np.float32)
    out[:, :N_PIXELS] = masks
    # np.where (not multiplication) so that a NaN or inf in a hidden pixel cannot leak either.
    out[:, N_PIXELS:] = np.where(masks, images, np.float32(0.0))
    return out


def _mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(INPUT_DIM, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, N_CLASSES),
    )


class SparsePixelJudge:
    """An MLP judge that reads ``k`` revealed pixels (see :func:`judge_input`).

    ``net`` maps ``(B, 128)`` judge inputs to ``(B, 10)`` logits; ``k`` is the number of pixels
    it was trained on (it accepts any mask, but is calibrated for ``k``).
    """

    def __init__(self, net: nn.Module, k: int) -> None:
        self.net = net.eval()
        self.k = int(k)

    def logits_from_input(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(B, 10)`` float32 for prepared judge inputs ``x`` ``(B, 128)``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != INPUT_DIM:
            raise ValueError(f"judge input must have shape (B, {INPUT_DIM}), got {x.shape}")
        out = np.empty((x.shape[0], N_CLASSES), dtype=np.float32)
        # inference_mode: no autograd bookkeeping; it is thread-local, so concurrent callers
        # (or a caller that pinned one thread) are unaffected.
        with torch.inference_mode():
            for start in range(0, x.shape[0], CHUNK):
                chunk = torch.from_numpy(x[start : start + CHUNK])
                out[start : start + CHUNK] = self.net(chunk).numpy()
        return out

    def logits(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Logits ``(B, 10)`` float32 for ``images`` ``(B, 64)`` seen through ``masks``."""
        return self.logits_from_input(judge_input(images, masks))

    def pixel_sums(self, image: np.ndarray) -> PixelSums:
        """This judge on ``image`` (64,) as :class:`PixelSums`, for exact game-tree search."""
        return PixelSums(self.net, image)

    def probabilities(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Class probabilities ``(B, 10)`` float32 (softmax of :meth:`logits`)."""
        z = self.logits(images, masks).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)  # stable softmax
        p = np.exp(z)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Predicted labels ``(B,)`` int64 (argmax of :meth:`logits`)."""
        return self.logits(images, masks).argmax(axis=1).astype(np.int64)


class PixelSums:
    """The judge on one image, with its first layer as a sum over the revealed pixels.

    The first layer is linear in the two input planes, and a revealed pixel ``p`` contributes
    its mask column plus its value times its value column, so a set's first-layer
    pre-activation is :attr:`base` plus the :attr:`rows` of its pixels. Game-tree search adds
    one row per reveal instead of building and multiplying a 128-wide input per leaf; the
    logits agree with :meth:`SparsePixelJudge.logits` up to float rounding (another order of
    summation), so an exact solver rescores near-ties with the judge itself.
    """

    def __init__(self, net: nn.Module, image: np.ndarray) -> None:
        first, second, third = (m for m in net.modules() if isinstance(m, nn.Linear))
        w1 = first.weight.detach().numpy().astype(np.float32)
        x = np.asarray(image, dtype=np.float32).reshape(N_PIXELS)
        self.base: np.ndarray = first.bias.detach().numpy().astype(np.float32).copy()
        """(hidden,) the first layer's pre-activation with nothing revealed."""
        self.rows: np.ndarray = np.ascontiguousarray((w1[:, :N_PIXELS] + w1[:, N_PIXELS:] * x).T)
        """(64, hidden): what revealing each pixel adds to the pre-activation."""
        self._w2 = np.ascontiguousarray(second.weight.detach().numpy().T)
        self._b2 = second.bias.detach().numpy().copy()
        self._w3 = np.ascontiguousarray(third.weight.detach().numpy().T)
        self._b3 = third.bias.detach().numpy().copy()

    def logits(self, pre: np.ndarray) -> np.ndarray:
        """(B, 10) float32 logits from first-layer pre-activations ``pre`` (B, hidden), which
        this overwrites."""
        h = np.maximum(pre, 0, out=pre)
        h = h @ self._w2
        h += self._b2
        np.maximum(h, 0, out=h)
        z = h @ self._w3
        z += self._b3
        return z


def new_judge(k: int, seed: int) -> SparsePixelJudge:
    """An untrained judge, initialised from ``seed`` without touching torch's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SparsePixelJudge(_mlp(), k)


def train_sparse_judge(
    x_train: np.ndarray,
    y_train: np.ndarray,
    k: int,
    seed: int,
    steps: int = DEFAULT_STEPS,
    batch_size: int = 128,
    lr: float = 1e-3,
) -> SparsePixelJudge:
    """Train a judge on ``k`` random nonzero pixels per image.

    Adam on cross-entropy, the learning rate decayed from ``lr`` to zero by a cosine over
    ``steps``; every example of every batch gets a fresh random mask (as in the
    paper), and batches walk through shuffled epochs. Deterministic: the same data, ``k`` and
    ``seed`` give bit-identical parameters (one thread, deterministic kernels, torch seeded
    inside a forked RNG, a numpy generator for batches and masks).
    """
    x_train = np.ascontiguousarray(x_train, dtype=np.float32)
    y_train = np.asarray(y_train, dtype=np.int64)
    if len(x_train) == 0 or len(x_train) != len(y_train):
        raise ValueError(f"need matching, non-empty data, got {len(x_train)} and {len(y_train)}")
    if k < 1 or steps < 0 or batch_size < 1:
        raise ValueError(
            f"need k >= 1, steps >= 0, batch_size >= 1; got {k}, {steps}, {batch_size}"
        )
    with deterministic_torch():
        judge = new_judge(k, derive_seed(seed, "sparse_judge", "init", k))
        _fit(
            judge.net,
            x_train,
            y_train,
            k,
            rng(seed, "sparse_judge", "data", k),
            steps,
            batch_size,
            lr,
        )
        judge.net.eval()
        return judge


def _batch_indices(n: int, steps: int, batch_size: int, gen: np.random.Generator) -> np.ndarray:
    """``(steps, batch_size)`` example indices from consecutive shuffled epochs."""
    need = steps * batch_size
    epochs = -(-need // n)
    if epochs == 0:
        return np.zeros((0, batch_size), dtype=np.int64)
    order = np.concatenate([gen.permutation(n) for _ in range(epochs)])
    return order[:need].reshape(steps, batch_size)


def _fit(
    net: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    k: int,
    gen: np.random.Generator,
    steps: int,
    batch_size: int,
    lr: float,
) -> None:
    net.train()
    # fused: one kernel for the whole update, markedly faster than the default on one CPU thread.
    opt = torch.optim.Adam(net.parameters(), lr=lr, fused=True)
    indices = _batch_indices(len(x), steps, batch_size, gen)
    step = 0
    # Build inputs for many steps at once: per-step numpy calls would dominate a step this small.
    for first in range(0, steps, _BLOCK):
        idx = indices[first : first + _BLOCK].reshape(-1)
        images = x[idx]
        inputs = torch.from_numpy(judge_input(images, random_masks(images, k, gen)))
        labels = torch.from_numpy(y[idx])
        for start in range(0, len(idx), batch_size):
            # Cosine decay to zero: the final parameters depend less on the last few batches,
            # so judges trained with different seeds are more alike.
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / steps))
            loss = F.cross_entropy(
                net(inputs[start : start + batch_size]), labels[start : start + batch_size]
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1


def sparse_accuracy(
    judge: SparsePixelJudge,
    x: np.ndarray,
    y: np.ndarray,
    k: int,
    seed: int,
    repeats: int = 1,
) -> float:
    """Accuracy of the judge alone on ``k`` random nonzero pixels per image.

    The "judge alone" column of the paper's Table 2. ``repeats`` draws that many independent
    masks per image and averages (less noise from the mask draw on a small test set).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if len(x) == 0:
        raise ValueError("no examples to score")
    images = np.tile(x, (repeats, 1))
    masks = random_masks(images, k, rng(seed, "sparse_accuracy", k))
    predicted = judge.predict(images, masks)
    return float(np.mean(predicted == np.tile(y, repeats)))


def save_judge(judge: SparsePixelJudge, path: str | Path) -> None:
    """Write the judge's parameters and ``k`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"format": _FORMAT, "k": judge.k, "hidden": HIDDEN, "state_dict": judge.net.state_dict()}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load_judge(path: str | Path) -> SparsePixelJudge:
    """Read a judge written by :func:`save_judge`."""
    blob = read_checkpoint(
        path, lambda p: torch.load(p, map_location="cpu", weights_only=True), "sparse pixel judge"
    )
    if not isinstance(blob, dict) or blob.get("format") != _FORMAT:
        raise OversightError(f"{path} is not a sparse pixel judge checkpoint ({_FORMAT})")
    if blob["hidden"] != HIDDEN:
        raise OversightError(f"{path} has hidden size {blob['hidden']}; this version has {HIDDEN}")
    net = _mlp()
    net.load_state_dict(blob["state_dict"])
    return SparsePixelJudge(net, int(blob["k"]))
