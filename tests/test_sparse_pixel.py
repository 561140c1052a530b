"""Tests of the digits data and the sparse-pixel judge: the split, random masks of nonzero
pixels, that hidden pixels never reach the judge, training, determinism and persistence."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
torch = pytest.importorskip("torch")

from oversight.envs.digits.data import (  # noqa: E402
    N_PIXELS,
    DigitsSplit,
    load_digits_split,
    mask_from_pixels,
    masks_from_indices,
    nonzero_pixels,
    random_masks,
)
from oversight.judges.sparse_pixel import (  # noqa: E402
    SparsePixelJudge,
    judge_input,
    load_judge,
    new_judge,
    save_judge,
    sparse_accuracy,
    train_sparse_judge,
)


@pytest.fixture(scope="module")
def split() -> DigitsSplit:
    return load_digits_split(seed=0)


@pytest.fixture(scope="module")
def trained(split: DigitsSplit) -> SparsePixelJudge:
    return train_sparse_judge(split.x_train, split.y_train, k=6, seed=0, steps=400)


# --- data ------------------------------------------------------------------------------------


def test_split_sizes_types_and_range(split: DigitsSplit):
    assert len(split.x_train) + len(split.x_test) == 1797
    assert len(split.x_test) == 540  # ceil(0.3 * 1797)
    for x, y in ((split.x_train, split.y_train), (split.x_test, split.y_test)):
        assert x.dtype == np.float32 and x.shape == (len(y), N_PIXELS)
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
        assert x.min() == 0.0 and x.max() == 1.0


def test_split_is_stratified(split: DigitsSplit):
    y_all = np.concatenate([split.y_train, split.y_test])
    fraction = len(split.y_test) / len(y_all)
    for label in range(10):
        expected = fraction * np.sum(y_all == label)
        assert abs(np.sum(split.y_test == label) - expected) <= 1


def test_split_is_deterministic(split: DigitsSplit):
    again = load_digits_split(seed=0)
    np.testing.assert_array_equal(again.x_train, split.x_train)
    np.testing.assert_array_equal(again.y_test, split.y_test)
    other = load_digits_split(seed=1)
    assert not np.array_equal(other.y_test, split.y_test)


def test_nonzero_pixels_and_mask_helpers(split: DigitsSplit):
    image = split.x_test[0]
    pixels = nonzero_pixels(image)
    assert np.all(np.diff(pixels) > 0) and np.all(image[pixels] != 0)
    assert np.count_nonzero(image) == len(pixels)
    np.testing.assert_array_equal(np.flatnonzero(mask_from_pixels(pixels)), pixels)
    masks = masks_from_indices(np.array([[3, 5, -1], [-1, -1, -1], [0, 63, 63]]))
    assert masks.shape == (3, N_PIXELS)
    assert [list(np.flatnonzero(m)) for m in masks] == [[3, 5], [], [0, 63]]


@pytest.mark.parametrize("k", [0, 1, 4, 6, 40, 64])
def test_random_masks_reveal_min_k_nnz_distinct_nonzero_pixels(split: DigitsSplit, k: int):
    images = split.x_train[:300].copy()
    images[0] = 0.0  # an empty image
    images[1, :] = 0.0
    images[1, [7, 20, 33]] = 0.5  # fewer nonzero pixels than most k
    masks = random_masks(images, k, np.random.default_rng(1))
    assert masks.dtype == bool and masks.shape == images.shape
    nnz = np.count_nonzero(images, axis=1)
    # A boolean mask cannot repeat a pixel, so the count is the number of distinct pixels.
    np.testing.assert_array_equal(masks.sum(axis=1), np.minimum(k, nnz))
    assert not np.any(masks & (images == 0))


def test_random_masks_are_deterministic_per_rng_and_vary(split: DigitsSplit):
    images = split.x_train[:200]
    a = random_masks(images, 4, np.random.default_rng(7))
    b = random_masks(images, 4, np.random.default_rng(7))
    c = random_masks(images, 4, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_masks_cover_every_nonzero_pixel(split: DigitsSplit):
    # Uniform over nonzero pixels: many draws of one image hit each of them.
    image = split.x_test[3]
    masks = random_masks(np.tile(image, (2000, 1)), 4, np.random.default_rng(0))
    np.testing.assert_array_equal(np.flatnonzero(masks.any(axis=0)), nonzero_pixels(image))


# --- masking ---------------------------------------------------------------------------------


def test_judge_input_layout(split: DigitsSplit):
    images = split.x_test[:5]
    masks = random_masks(images, 4, np.random.default_rng(0))
    x = judge_input(images, masks)
    assert x.dtype == np.float32 and x.shape == (5, 2 * N_PIXELS)
    np.testing.assert_array_equal(x[:, :N_PIXELS], masks.astype(np.float32))
    np.testing.assert_array_equal(x[:, N_PIXELS:], np.where(masks, images, 0.0))


def test_no_hidden_pixel_leaks(split: DigitsSplit, trained: SparsePixelJudge):
    images = split.x_test[:64]
    masks = random_masks(images, 6, np.random.default_rng(3))
    rng = np.random.default_rng(4)
    tampered = images.copy()
    # Hidden pixels get arbitrary values, including non-finite ones: nothing may change.
    tampered[~masks] = rng.uniform(-5.0, 5.0, size=int((~masks).sum())).astype(np.float32)
    tampered[0, np.flatnonzero(~masks[0])[:2]] = [np.nan, np.inf]
    np.testing.assert_array_equal(judge_input(tampered, masks), judge_input(images, masks))
    np.testing.assert_array_equal(trained.logits(tampered, masks), trained.logits(images, masks))
    # Changing a revealed pixel does change what the judge sees and says.
    revealed = images.copy()
    rows = np.arange(len(images))
    first = masks.argmax(axis=1)
    revealed[rows, first] += 0.5
    assert np.all(np.any(judge_input(revealed, masks) != judge_input(images, masks), axis=1))
    changed = np.any(trained.logits(revealed, masks) != trained.logits(images, masks), axis=1)
    assert np.all(changed)


# --- the judge -------------------------------------------------------------------------------


def test_logits_shapes_chunking_and_probabilities(split: DigitsSplit, trained: SparsePixelJudge):
    images = np.tile(split.x_test[:10], (300, 1))  # 3,000 rows: more than one chunk
    masks = random_masks(images, 6, np.random.default_rng(0))
    logits = trained.logits(images, masks)
    assert logits.shape == (3_000, 10) and logits.dtype == np.float32
    single = np.concatenate(
        [trained.logits(images[i : i + 1], masks[i : i + 1]) for i in (0, 2999)]
    )
    np.testing.assert_allclose(single, logits[[0, 2999]], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(trained.logits_from_input(judge_input(images, masks)), logits)
    probs = trained.probabilities(images[:50], masks[:50])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probs.argmax(axis=1), logits[:50].argmax(axis=1))
    # One image broadcast against many masks: how a game-tree search scores leaves.
    np.testing.assert_array_equal(
        trained.logits(images[0], masks[:3]), trained.logits(np.tile(images[0], (3, 1)), masks[:3])
    )


def test_short_training_beats_chance(split: DigitsSplit, trained: SparsePixelJudge):
    untrained = sparse_accuracy(new_judge(6, 0), split.x_test, split.y_test, 6, seed=1)
    accuracy = sparse_accuracy(trained, split.x_test, split.y_test, 6, seed=1, repeats=3)
    # Chance is 0.1; 400 steps reach about 0.5 (full training about 0.63).
    assert accuracy > 0.3 and accuracy > untrained + 0.15
    assert trained.k == 6


def test_sparse_accuracy_is_deterministic(split: DigitsSplit, trained: SparsePixelJudge):
    a = sparse_accuracy(trained, split.x_test, split.y_test, 4, seed=5)
    assert a == sparse_accuracy(trained, split.x_test, split.y_test, 4, seed=5)
    assert 0.0 <= a <= 1.0


def test_training_is_deterministic(split: DigitsSplit):
    x, y = split.x_train[:500], split.y_train[:500]
    threads = torch.get_num_threads()
    a = train_sparse_judge(x, y, k=4, seed=3, steps=30, batch_size=32)
    b = train_sparse_judge(x, y, k=4, seed=3, steps=30, batch_size=32)
    c = train_sparse_judge(x, y, k=4, seed=4, steps=30, batch_size=32)
    pa, pb, pc = (list(j.net.parameters()) for j in (a, b, c))
    assert all(torch.equal(p, q) for p, q in zip(pa, pb, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(pa, pc, strict=True))
    assert train_sparse_judge(x, y, k=4, seed=3, steps=0).k == 4  # no steps: the initial net
    # Training leaves torch's global state alone.
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()


def test_save_load_round_trip(split: DigitsSplit, trained: SparsePixelJudge, tmp_path):
    path = tmp_path / "judges" / "k6.pt"
    save_judge(trained, path)
    loaded = load_judge(path)
    assert loaded.k == trained.k
    images = split.x_test[:100]
    masks = random_masks(images, 6, np.random.default_rng(2))
    np.testing.assert_array_equal(loaded.logits(images, masks), trained.logits(images, masks))


def test_load_rejects_other_files(tmp_path):
    from oversight.core.errors import OversightError

    path = tmp_path / "other.pt"
    torch.save({"format": "something else"}, path)
    with pytest.raises(OversightError):
        load_judge(path)
