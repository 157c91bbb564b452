"""Our masked loss and the batches it sees.

The loss is next-token cross entropy where target position ``t`` (predicting token ``t + 1``)
weighs 1 when token ``t + 1`` is trained (``TokenizedExample.mask()``) and 0 otherwise; padding
weighs 0; the result is the mean over trained targets. ``masked_loss`` returns ``(loss,
n_trained_targets)`` exactly like mlx-lm's ``default_loss``, so it plugs into the same compiled
training step and costs the same.

Batches follow mlx-lm's layout: examples sorted by length, cut into groups of ``batch_size``,
padded to a multiple of ``PAD_MULTIPLE`` input positions (so ``mx.compile`` sees few shapes), and
the order of the groups shuffled per epoch from ``(seed, epoch)`` alone, so a resumed run sees
the same order without any saved generator state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .examples import TokenizedExample

PAD_MULTIPLE = 32  # input positions are padded to a multiple of this (mlx-lm uses 32 too)
PAD_TOKEN = 0  # any id works: padded positions are masked out of the loss


def drop_too_long(examples: Iterable[TokenizedExample], max_length: int,
                  ) -> tuple[list[TokenizedExample], int]:
    """Split off examples longer than ``max_length`` tokens: ``(kept, dropped_count)``.

    They are dropped, never truncated: a cut trace would teach the model to stop mid-thought.
    """
    kept: list[TokenizedExample] = []
    dropped = 0
    for example in examples:
        if len(example) > max_length:
            dropped += 1
        else:
            kept.append(example)
    return kept, dropped


def make_batches(examples: list[TokenizedExample], batch_size: int) -> list[list[int]]:
    """Example indices sorted by length (ties by index), in groups of ``batch_size``.

    The last group may be smaller, so every example is seen each epoch.
    """
    order = sorted(range(len(examples)), key=lambda index: (len(examples[index]), index))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def epoch_order(n_batches: int, *, seed: int, epoch: int) -> np.ndarray:
    """The order of the batches in ``epoch``: a permutation fixed by ``(seed, epoch)``."""
    return np.random.default_rng([seed, epoch]).permutation(n_batches)


@dataclass(frozen=True)
class Batch:
    """Padded token ids ``(B, W + 1)`` and the trained-target mask ``(B, W)`` as numpy arrays."""

    tokens: np.ndarray
    mask: np.ndarray
    n_tokens: int  # tokens of the examples, padding excluded (what mlx-lm's Tokens/sec counts)
    n_trained: int  # targets the loss is computed on


def collate(examples: list[TokenizedExample]) -> Batch:
    """Pad ``examples`` into one batch; target ``t``'s mask is the trained flag of token ``t + 1``."""
    longest = max(len(example) for example in examples)
    width = PAD_MULTIPLE * max(1, -(-(longest - 1) // PAD_MULTIPLE))  # input positions
    tokens = np.full((len(examples), width + 1), PAD_TOKEN, dtype=np.int32)
    mask = np.zeros((len(examples), width), dtype=bool)
    for row, example in enumerate(examples):
        tokens[row, :len(example)] = example.tokens
        mask[row, :len(example) - 1] = example.mask()[1:]
    return Batch(tokens=tokens, mask=mask, n_tokens=sum(len(example) for example in examples),
                 n_trained=int(mask.sum()))


def masked_cross_entropy(logits, targets, mask):
    """``(loss, n_trained)``: mean cross entropy over the targets where ``mask`` is True."""
    import mlx.core as mx
    import mlx.nn as nn

    losses = nn.losses.cross_entropy(logits, targets) * mask
    n_trained = mask.sum()
    # max(…, 1): a batch without trained targets gives 0 instead of NaN (never built, but cheap).
    return losses.astype(mx.float32).sum() / mx.maximum(n_trained, 1), n_trained


def masked_loss(model, tokens, mask):
    """The training loss: ``model`` predicts ``tokens[:, 1:]`` from ``tokens[:, :-1]``."""
    logits = model(tokens[:, :-1])
    return masked_cross_entropy(logits, tokens[:, 1:], mask)
