"""Train a Hugging Face reward model on exported preference data with TRL's RewardTrainer.

The data is the preference JSONL that :mod:`oversight.learning.export` writes
(``{"prompt", "chosen", "rejected"}`` and optionally ``"margin"``, TRL's explicit-prompt
preference format). The model is any Hugging Face model with a sequence-classification head
(``AutoModelForSequenceClassification``, one output: the reward), from a local folder or, when
online, a hub name. transformers, datasets and trl are imported only here, inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from oversight.core.config import Strict
from oversight.core.errors import OversightError
from oversight.learning.export import PreferenceRow, read_rows


class RewardTraining(Strict):
    """Settings of a reward-model training run."""

    steps: int = Field(100, ge=1, description="Optimizer steps.")
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    max_length: int = Field(512, ge=8, description="Tokens per prompt + completion.")
    seed: int = 0


class RewardResult(Strict):
    out: str
    pairs: int
    steps: int
    train_loss: float
    accuracy: float = Field(description="Share of training pairs the model ranks correctly.")


def load_preferences(path: str | Path) -> list[PreferenceRow]:
    """The rows of a preference JSONL file; an error naming the file when it has none."""
    rows = read_rows(path, PreferenceRow)
    if not rows:
        raise OversightError(f"{path}: no preference rows (prompt, chosen, rejected)")
    return rows


def train_reward_model(
    data: str | Path,
    model: str | Path,
    out: str | Path,
    settings: RewardTraining | None = None,
) -> RewardResult:
    """Train ``model`` as a reward model on the preference rows in ``data`` and save it (and its
    tokenizer) to ``out``. Returns the final training loss and the share of training pairs the
    trained model ranks the right way round."""
    import datasets
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    s = settings or RewardTraining()
    rows = load_preferences(data)
    with_margin = all(r.margin is not None for r in rows)
    records = [r.model_dump(exclude_none=True) for r in rows]
    if not with_margin:
        for rec in records:
            rec.pop("margin", None)  # TRL reads a present margin column for every row
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
    args = RewardConfig(
        output_dir=str(out),
        max_steps=s.steps,
        per_device_train_batch_size=s.batch_size,
        learning_rate=s.learning_rate,
        max_length=s.max_length,
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
    return RewardResult(
        out=str(out),
        pairs=len(rows),
        steps=result.global_step,
        train_loss=float(result.training_loss),
        accuracy=ranking_accuracy(trainer.model, tokenizer, rows, s.max_length),
    )


def ranking_accuracy(
    model: Any, tokenizer: Any, rows: list[PreferenceRow], max_length: int
) -> float:
    """Share of rows whose chosen completion gets the higher reward."""
    import torch

    model.eval()
    right = 0
    with torch.no_grad():
        for r in rows:
            texts = [r.prompt + r.chosen, r.prompt + r.rejected]
            batch = tokenizer(
                texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            batch = {k: v.to(model.device) for k, v in batch.items()}
            rewards = model(**batch).logits[:, 0]
            right += int(rewards[0] > rewards[1])
    return right / len(rows)
