"""The masked loss: masked tokens contribute zero loss and zero gradient; batching is exact."""

from __future__ import annotations

import math

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")
nn = pytest.importorskip("mlx.nn")

from mlx.utils import tree_flatten, tree_unflatten  # noqa: E402
from train_helpers import tokenized_examples  # noqa: E402

from iisearch_local.finetune.examples import TokenizedExample  # noqa: E402
from iisearch_local.finetune.loss import (  # noqa: E402
    PAD_MULTIPLE, collate, drop_too_long, epoch_order, make_batches, masked_cross_entropy, masked_loss,
)


def _lora_model(model_dir):
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm.utils import load_model

    model, _config = load_model(model_dir)
    mx.random.seed(0)
    model.freeze()
    linear_to_lora_layers(model, -1, {"rank": 4, "scale": 20.0, "dropout": 0.0})
    # LoRA B starts at zero, which would make every LoRA-A gradient zero: give B values so the
    # gradient comparison below covers every trainable tensor.
    model.update(tree_unflatten([(name, mx.random.normal(value.shape) * 0.01) for name, value in
                                 tree_flatten(model.trainable_parameters()) if name.endswith("lora_b")]))
    return model


def _grads_equal(first, second) -> bool:
    a, b = dict(tree_flatten(first)), dict(tree_flatten(second))
    return a.keys() == b.keys() and all(mx.array_equal(a[name], b[name]).item() for name in a)


def test_masked_cross_entropy_matches_a_hand_computation_and_masked_logits_get_no_gradient():
    rng = np.random.default_rng(0)
    logits = mx.array(rng.normal(size=(2, 6, 11)).astype(np.float32))
    targets = mx.array(rng.integers(0, 11, size=(2, 6)).astype(np.int32))
    mask = mx.array(np.array([[1, 1, 0, 0, 1, 0], [0, 0, 0, 1, 1, 1]], dtype=bool))

    loss, n_trained = masked_cross_entropy(logits, targets, mask)
    np_logits, np_targets, np_mask = np.array(logits), np.array(targets), np.array(mask)
    log_probs = np_logits - np.log(np.exp(np_logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, np_targets[..., None], -1)[..., 0]
    expected = -(picked * np_mask).sum() / np_mask.sum()
    assert n_trained.item() == 6
    assert math.isclose(loss.item(), expected, rel_tol=1e-5)

    grad = np.array(mx.grad(lambda x: masked_cross_entropy(x, targets, mask)[0])(logits))
    assert np.all(grad[~np_mask] == 0.0)  # a masked position's logits get exactly zero gradient
    assert np.all(np.abs(grad[np_mask]).sum(-1) > 0)  # ...and a trained one's do not


def test_masked_targets_change_neither_loss_nor_gradient(tiny_models):
    """Replace every masked target token: loss and every LoRA gradient stay bit-identical."""
    model = _lora_model(tiny_models.hf)
    example = tokenized_examples(tiny_models.hf, 1, observation="Paris is the capital")[0]
    batch = collate([example])
    tokens, mask = mx.array(batch.tokens), mx.array(batch.mask)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    assert 0 < batch.n_trained < batch.mask.shape[1]

    def loss_with(model, inputs, targets, mask):
        return masked_cross_entropy(model(inputs), targets, mask)

    value_and_grad = nn.value_and_grad(model, loss_with)
    (loss, _), grad = value_and_grad(model, inputs, targets, mask)
    changed = np.where(batch.mask, np.array(targets), (np.array(targets) + 12345) % 151000)
    assert (changed != np.array(targets)).sum() > 10
    (loss_changed, _), grad_changed = value_and_grad(model, inputs, mx.array(changed), mask)
    assert loss.item() == loss_changed.item()
    assert _grads_equal(grad, grad_changed)

    # The check can fail: changing one *trained* target changes the loss and the gradients.
    trained_at = int(np.argmax(batch.mask[0]))
    flipped = np.array(targets).copy()
    flipped[0, trained_at] = (flipped[0, trained_at] + 7) % 151000
    (loss_flipped, _), grad_flipped = value_and_grad(model, inputs, mx.array(flipped), mask)
    assert loss_flipped.item() != loss.item()
    assert not _grads_equal(grad, grad_flipped)


def test_a_masked_tail_changes_nothing_through_the_training_loss(tiny_models):
    """End to end through collate + masked_loss: masked tokens after the last trained one are inert."""
    model = _lora_model(tiny_models.hf)
    example = tokenized_examples(tiny_models.hf, 1)[0]
    tail = [151643 - i for i in range(9)]  # masked tokens appended after the trained answer
    original = TokenizedExample(example.tokens + tail, example.trained)
    altered = TokenizedExample(example.tokens + [t - 5000 for t in tail], example.trained)
    value_and_grad = nn.value_and_grad(model, masked_loss)
    results = []
    for variant in (original, altered):
        batch = collate([variant])
        results.append(value_and_grad(model, mx.array(batch.tokens), mx.array(batch.mask)))
    (loss_a, n_a), grad_a = results[0]
    (loss_b, n_b), grad_b = results[1]
    assert n_a.item() == n_b.item() == example.trained_tokens - (1 if example.trained[0][0] == 0 else 0)
    assert loss_a.item() == loss_b.item()
    assert _grads_equal(grad_a, grad_b)


def test_collate_aligns_each_target_with_its_trained_flag_and_pads():
    first = TokenizedExample(list(range(1, 11)), [(2, 4), (8, 10)])
    second = TokenizedExample(list(range(1, 41)), [(0, 40)])
    batch = collate([first, second])
    assert batch.tokens.shape == (2, 2 * PAD_MULTIPLE + 1)  # 39 input positions -> 64
    assert batch.mask.shape == (2, 2 * PAD_MULTIPLE)
    # target t predicts token t + 1: trained tokens 2, 3, 8, 9 are targets 1, 2, 7, 8
    assert np.flatnonzero(batch.mask[0]).tolist() == [1, 2, 7, 8]
    assert batch.tokens[0, :10].tolist() == first.tokens and not batch.tokens[0, 10:].any()
    assert batch.mask[1].sum() == 39  # token 0 has no context: it is never a target
    assert not batch.mask[:, 39:].any()
    assert batch.n_tokens == 50 and batch.n_trained == 4 + 39
    assert collate([TokenizedExample([1, 2], [(1, 2)])]).tokens.shape == (1, PAD_MULTIPLE + 1)


def test_too_long_examples_are_dropped_and_counted_and_batches_are_sorted_and_seeded():
    examples = [TokenizedExample([1] * length, [(0, length)]) for length in (5, 30, 12, 31, 8)]
    kept, dropped = drop_too_long(examples, 12)
    assert [len(e) for e in kept] == [5, 12, 8] and dropped == 2
    batches = make_batches(examples, 2)
    assert batches == [[0, 4], [2, 1], [3]]  # sorted by length; the last batch keeps the rest
    assert epoch_order(5, seed=3, epoch=1).tolist() == epoch_order(5, seed=3, epoch=1).tolist()
    orders = {tuple(epoch_order(6, seed=3, epoch=e).tolist()) for e in range(4)}
    assert len(orders) > 1  # epochs are shuffled differently
