"""Train a Hugging Face reward model on exported preference data with TRL's RewardTrainer.

The data is the preference JSONL that :mod:`oversight.learning.export` writes
(``{"prompt", "chosen", "rejected"}`` and optionally ``"margin"``, TRL's explicit-prompt
preference format), in its standard type (text) or its conversational type (turns), which is
rendered with the tokenizer's chat template (turns joined as plain text when it has none).
The model is any Hugging Face model with a sequence-classification head
(``AutoModelForSequenceClassification``, one output: the reward), from a local folder or, when
online, a hub name. transformers, datasets and trl are imported only here, inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from oversight.core.config import Strict
from oversight.core.errors import OversightError
from oversight.learning.export import ChatPreferenceRow, ChatTurn, PreferenceRow, read_preferences


class RewardTraining(Strict):
    """Settings of a reward-model training run."""

    steps: int = Field(100, ge=1, description="Optimizer steps.")
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    max_length: int | None = Field(
        None,
        ge=8,
        description="Tokens per prompt + completion (default: the longest in the data, within "
        "the model's limit). A longer sequence loses the start of its prompt, never its "
        "completion's end: no pair is dropped.",
    )
    heldout: float = Field(
        0.2, ge=0, lt=1, description="Share of prompts held out to measure ranking accuracy."
    )
    seed: int = 0


class RewardResult(Strict):
    out: str
    pairs: int = Field(description="Preference rows in the data.")
    trained: int = Field(description="Pairs the trainer kept and trained on.")
    heldout: int = Field(description="Pairs held out (their prompts never trained on).")
    truncated: int = Field(description="Pairs with a sequence cut to max_length.")
    max_length: int
    length_from: str = Field(description="Where max_length came from.")
    format: str = Field(description="How the rows became text (standard or conversational).")
    steps: int
    train_loss: float
    train_accuracy: float = Field(description="Share of trained pairs ranked the right way.")
    heldout_accuracy: float = Field(description="The same on held-out pairs (NaN if none).")


def load_preferences(path: str | Path) -> list[PreferenceRow] | list[ChatPreferenceRow]:
    """The rows of a preference JSONL file of either type; an error naming the file when it
    has none."""
    rows = read_preferences(path)
    if not rows:
        raise OversightError(f"{path}: no preference rows (prompt, chosen, rejected)")
    return rows


def as_text(
    tokenizer: Any, rows: list[PreferenceRow] | list[ChatPreferenceRow]
) -> tuple[list[PreferenceRow], str]:
    """Rows as prompt and completion texts, and how: standard rows as they are;
    conversational rows through the tokenizer's chat template (the completion is what the
    template adds after the prompt and its generation prompt), or with no template, the turns'
    contents joined by newlines."""
    chat = [r for r in rows if isinstance(r, ChatPreferenceRow)]
    if not chat:
        return [r for r in rows if isinstance(r, PreferenceRow)], "standard"
    template = getattr(tokenizer, "chat_template", None)

    def render(prompt: list[ChatTurn], completion: list[ChatTurn]) -> tuple[str, str]:
        if not template:
            head = "".join(t.content + "\n" for t in prompt)
            return head, "\n".join(t.content for t in completion)
        turns = [t.model_dump() for t in prompt]
        head = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(
            turns + [t.model_dump() for t in completion], tokenize=False
        )
        if not full.startswith(head):
            raise OversightError(
                "the tokenizer's chat template does not extend the prompt with the completion; "
                "export the standard type (without --chat) instead"
            )
        return head, full[len(head) :]

    out = []
    for r in chat:
        prompt, chosen = render(r.prompt, r.chosen)
        _, rejected = render(r.prompt, r.rejected)
        out.append(
            PreferenceRow(
                prompt=prompt, chosen=chosen, rejected=rejected, margin=r.margin, arm=r.arm
            )
        )
    how = "the tokenizer's chat template" if template else "no chat template: turns joined"
    return out, f"conversational ({how})"


def split_by_prompt(
    rows: list[PreferenceRow], share: float, seed: int
) -> tuple[list[PreferenceRow], list[PreferenceRow]]:
    """(train, held out): ``share`` of the distinct prompts (at least one when there are two or
    more and ``share > 0``, never all) and every pair of theirs held out, so that no held-out
    prompt is trained on."""
    prompts = list(dict.fromkeys(r.prompt for r in rows))
    n = min(len(prompts) - 1, max(1, round(share * len(prompts)))) if share > 0 else 0
    order = np.random.default_rng(seed).permutation(len(prompts))
    held = {prompts[i] for i in order[:n]}
    return [r for r in rows if r.prompt not in held], [r for r in rows if r.prompt in held]


def model_limit(net: Any, tokenizer: Any) -> int | None:
    """The longest sequence the model takes (its position embeddings), if it says."""
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(net.config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else None


def encode(tokenizer: Any, text: str, limit: int | None = None) -> list[int]:
    """Token ids of ``text`` ending in EOS, cut to the last ``limit`` (the start goes)."""
    ids = list(tokenizer(text)["input_ids"])
    if not ids or ids[-1] != tokenizer.eos_token_id:
        ids.append(tokenizer.eos_token_id)
    return ids if limit is None else ids[-limit:]


def train_reward_model(
    data: str | Path,
    model: str | Path,
    out: str | Path,
    settings: RewardTraining | None = None,
) -> RewardResult:
    """Train ``model`` as a reward model on the preference rows in ``data`` (less the held-out
    prompts) and save it (and its tokenizer) to ``out``. Sequences are tokenized here, cut to
    ``max_length`` from the left, so the trainer keeps every pair."""
    import datasets
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    s = settings or RewardTraining()
    loaded = load_preferences(data)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model))
        net = AutoModelForSequenceClassification.from_pretrained(str(model), num_labels=1)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OversightError(
            f"--model {model}: not a Hugging Face model folder or name it can load: {first}"
        ) from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise OversightError(
                f"--model {model}: the tokenizer has neither a pad nor an eos token"
            )
        tokenizer.pad_token = tokenizer.eos_token
    net.config.pad_token_id = tokenizer.pad_token_id
    rows, form = as_text(tokenizer, loaded)
    train, held = split_by_prompt(rows, s.heldout, s.seed)
    full = [
        (encode(tokenizer, r.prompt + r.chosen), encode(tokenizer, r.prompt + r.rejected))
        for r in train
    ]
    longest = max(max(len(c), len(r)) for c, r in full)
    limit = model_limit(net, tokenizer)
    if s.max_length is not None:
        max_length, source = s.max_length, "--max-length"
    elif limit is not None and longest > limit:
        max_length, source = limit, "the model's limit"
    else:
        max_length, source = longest, "the longest in the data"
    truncated = sum(max(len(c), len(r)) > max_length for c, r in full)
    with_margin = all(r.margin is not None for r in train)
    records = [
        {"chosen_ids": c[-max_length:], "rejected_ids": rj[-max_length:]}
        | ({"margin": r.margin} if with_margin else {})  # TRL reads a margin column for all
        for (c, rj), r in zip(full, train, strict=True)
    ]
    args = RewardConfig(
        output_dir=str(out),
        max_steps=s.steps,
        per_device_train_batch_size=s.batch_size,
        learning_rate=s.learning_rate,
        max_length=max_length,
        seed=s.seed,
        logging_steps=max(1, s.steps // 10),
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        # TRL defaults to bf16, which CPUs (and older GPUs) cannot train in.
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
    )
    trainer = RewardTrainer(
        model=net,
        args=args,
        train_dataset=datasets.Dataset.from_list(records),
        processing_class=tokenizer,
    )
    result = trainer.train()
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    kept = trainer.train_dataset
    return RewardResult(
        out=str(out),
        pairs=len(rows),
        trained=len(kept) if kept is not None else 0,  # type: ignore[arg-type]
        heldout=len(held),
        truncated=truncated,
        max_length=max_length,
        length_from=source,
        format=form,
        steps=result.global_step,
        train_loss=float(result.training_loss),
        train_accuracy=ranking_accuracy(trainer.model, tokenizer, train, max_length),
        heldout_accuracy=ranking_accuracy(trainer.model, tokenizer, held, max_length),
    )


def ranking_accuracy(
    model: Any, tokenizer: Any, rows: list[PreferenceRow], max_length: int
) -> float:
    """Share of rows whose chosen completion gets the higher reward (NaN without rows);
    sequences are cut as for training."""
    import torch

    if not rows:
        return float("nan")
    model.eval()
    right = 0
    with torch.no_grad():
        for r in rows:
            rewards = [
                model(
                    input_ids=torch.tensor(
                        [encode(tokenizer, r.prompt + c, max_length)], device=model.device
                    )
                ).logits[0, 0]
                for c in (r.chosen, r.rejected)
            ]
            right += int(rewards[0] > rewards[1])
    return right / len(rows)
