"""``iisearch finetune train``: LoRA / DoRA / full fine-tuning on MLX with our masked loss.

The model side is mlx-lm's (``load_model``, ``linear_to_lora_layers``, ``grad_checkpoint``); the
step is compiled the way mlx-lm's trainer compiles it (``mx.compile`` with the model, optimizer
and random state as inputs and outputs, gradients accumulated across micro-batches), so our
tokens/s matches plain ``mlx_lm lora``. What differs is the loss (only trained tokens count),
the data (phase mixing, too-long examples dropped) and the loop (steps are optimizer updates,
atomic checkpoints with optimizer state, exact resume).

The data stream is the batches of epoch 0 in their ``(seed, 0)`` order, then epoch 1's, ...;
step ``k`` consumes micro-batches ``[k * grad_accumulation, (k + 1) * grad_accumulation)``, so a
resumed run needs only the step to see the same data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..convert.outputs import source_fingerprint
from ..errors import UserFacingError
from .checkpoints import (
    CheckpointError, CheckpointState, check_identity, latest_checkpoint, load_checkpoint,
    publish_adapters, remove_partials, save_checkpoint, set_aside,
)
from .config import TrainConfig
from .loss import Batch, collate, epoch_order, make_batches, masked_loss
from .mixing import MixedData, mix_phases
from .modelio import adapter_config, load_base, prepare_model, vocab_size


class TrainingError(UserFacingError):
    """Training cannot start or continue (bad base, nothing to resume...)."""


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report; ``kind`` is "start", "report", "val", "checkpoint" or "done"."""

    kind: str
    step: int
    total_steps: int
    epoch: float
    train_loss: float | None = None
    val_loss: float | None = None
    trained_tokens_per_s: float | None = None  # targets the loss is computed on, per second
    tokens_per_s: float | None = None  # all example tokens (padding excluded), per second
    eta_seconds: float | None = None
    path: Path | None = None
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class TrainResult:
    """How a training run ended."""

    out: Path
    step: int
    total_steps: int
    resumed_from: int | None
    losses: list[float]  # train loss of every step, resumed history included
    val_losses: list[list[float]]  # [step, loss]
    data: MixedData
    trainable_parameters: int
    checkpoint: Path | None = None
    already_complete: bool = False
    reports: list[ProgressEvent] = field(default_factory=list)


def run_identity(config: TrainConfig, data: MixedData, base: str) -> dict[str, Any]:
    """The settings a resumed run must share (training length and reporting may change)."""
    s = config.train
    return {
        "base": base, "fine_tune_type": s.fine_tune_type, "num_layers": s.num_layers,
        "lora": None if s.fine_tune_type == "full" else config.lora_parameters(),
        "optimizer": s.optimizer, "learning_rate": s.learning_rate,
        "weight_decay": s.weight_decay if s.optimizer == "adamw" else None,
        "batch_size": s.batch_size, "grad_accumulation": s.grad_accumulation,
        "max_length": s.max_length, "seed": s.seed,
        "phases": [[phase.name, phase.proportion, report.data_sha256]
                   for phase, report in zip(config.phases, data.phases)],
    }


def _make_optimizer(config: TrainConfig):
    import mlx.optimizers as optim

    s = config.train
    if s.optimizer == "adamw":
        return optim.AdamW(learning_rate=s.learning_rate, weight_decay=s.weight_decay)
    return optim.Adam(learning_rate=s.learning_rate)


@contextmanager
def _gradient_checkpointing(model, enabled: bool):
    """mlx-lm's ``grad_checkpoint`` patches the layer *class*; undo it when training ends."""
    if not enabled or not model.layers:
        yield
        return
    from mlx_lm.tuner.trainer import grad_checkpoint

    layer_class = type(model.layers[0])
    original = layer_class.__call__
    grad_checkpoint(model.layers[0])
    try:
        yield
    finally:
        layer_class.__call__ = original


class _Stream:
    """Micro-batch ``position`` of the endless data stream, as mx arrays."""

    def __init__(self, examples, batch_size: int, seed: int) -> None:
        self.examples = examples
        self.batches = make_batches(examples, batch_size)
        self.seed = seed
        self._orders: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.batches)

    def batch(self, position: int) -> Batch:
        epoch, within = divmod(position, len(self.batches))
        if epoch not in self._orders:
            self._orders = {epoch: epoch_order(len(self.batches), seed=self.seed, epoch=epoch)}
        return collate([self.examples[i] for i in self.batches[self._orders[epoch][within]]])


def evaluate(model, batches: list[Batch]) -> float | None:
    """Mean masked loss over ``batches`` (weighted by trained targets); None without batches."""
    import mlx.core as mx

    if not batches:
        return None
    model.eval()
    total, count = mx.array(0.0), mx.array(0)
    for batch in batches:
        loss, n_trained = masked_loss(model, mx.array(batch.tokens), mx.array(batch.mask))
        total, count = total + loss * n_trained, count + n_trained
        mx.eval(total, count)
    model.train()
    return (total / count).item()


def _resume_point(config: TrainConfig, resume: bool | None, identity: dict, say: Callable[[str], None]):
    latest = latest_checkpoint(config.out)
    if resume is False:
        if latest is not None:
            moved = set_aside(config.out)
            say(f"starting over: the old checkpoints were moved to {moved}")
        return None
    if latest is None:
        if resume:
            raise TrainingError(f"nothing to resume: no checkpoint in {config.out / 'checkpoints'}",
                                hint="Run without --resume to start training.")
        return None
    state, adapters, optimizer_state = load_checkpoint(latest)
    check_identity(state.identity, identity, latest)
    return latest, state, adapters, optimizer_state


def _restore(model, optimizer, adapters: dict, optimizer_state: dict, rng_state: list[int], path: Path) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten

    expected = dict(tree_flatten(model.trainable_parameters()))
    wrong = sorted(set(expected) ^ set(adapters)) or sorted(
        name for name in expected if expected[name].shape != adapters[name].shape)
    if wrong:
        raise CheckpointError(f"{path} does not fit the model being trained (e.g. {wrong[0]})")
    model.load_weights(list(adapters.items()), strict=False)
    optimizer.state = tree_unflatten(list(optimizer_state.items()))
    optimizer.init(model.trainable_parameters())  # keeps the loaded moments, marks them ready
    # mx.random.state cannot be assigned; seeding with the 64-bit value hi << 32 | lo sets the key
    # to exactly [hi, lo] (mx.random.key splits a seed that way).
    high, low = (int(value) for value in rng_state)
    mx.random.seed((high << 32) | low)
    if mx.random.state[0].tolist() != [high, low]:
        raise CheckpointError(f"cannot restore the random state saved in {path}")


def train(config: TrainConfig, *, resume: bool | None = None,
          on_progress: ProgressCallback | None = None) -> TrainResult:
    """Train per ``config``; ``resume=None`` continues from the latest checkpoint when there is one."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten, tree_map
    from mlx_lm.utils import maybe_set_recommended_wired_limit

    s = config.train
    reports: list[ProgressEvent] = []

    def emit(event: ProgressEvent) -> None:
        reports.append(event)
        if on_progress is not None:
            on_progress(event)

    model, model_config = load_base(config.base)
    data = mix_phases(config.phases, base_dir=config.base, vocab_size=vocab_size(model_config),
                      max_length=s.max_length, seed=s.seed, check_tokenizer=s.check_tokenizer)
    trainable = prepare_model(model, config)
    identity = run_identity(config, data, source_fingerprint(config.base, mtimes=False))
    config.out.mkdir(parents=True, exist_ok=True)
    remove_partials(config.out)
    notes: list[str] = []
    start = _resume_point(config, resume, identity, notes.append)

    stream = _Stream(data.train, s.batch_size, s.seed)
    accumulation = s.grad_accumulation
    total_steps = s.iters or math.ceil(s.epochs * len(stream) / accumulation)
    optimizer = _make_optimizer(config)
    step, losses, val_losses, resumed_from = 0, [], [], None
    if start is not None:
        path, state, adapters, optimizer_state = start
        _restore(model, optimizer, adapters, optimizer_state, state.rng_state, path)
        step, losses, val_losses, resumed_from = state.step, state.losses, state.val_losses, state.step
    lora_config = adapter_config(config, model_config)
    valid_batches = [collate([data.valid[i] for i in group]) for group in make_batches(data.valid, s.batch_size)]
    if s.val_batches != -1:
        valid_batches = valid_batches[:s.val_batches]

    def epoch_at(done: int) -> float:
        return done * accumulation / len(stream)

    notes.append(f"{len(data.train)} training examples in {len(stream)} batches, {len(data.valid)} for "
                 f"validation; {data.dropped_too_long} dropped as longer than {s.max_length} tokens")
    emit(ProgressEvent("start", step, total_steps, epoch_at(step), message="; ".join(notes)))
    result = TrainResult(out=config.out, step=step, total_steps=total_steps, resumed_from=resumed_from,
                         losses=losses, val_losses=val_losses, data=data, trainable_parameters=trainable,
                         checkpoint=latest_checkpoint(config.out), reports=reports)
    if step >= total_steps:
        result.already_complete = True
        emit(ProgressEvent("done", step, total_steps, epoch_at(step), message="already complete"))
        return result

    maybe_set_recommended_wired_limit()
    loss_value_and_grad = nn.value_and_grad(model, masked_loss)
    state = [model.state, optimizer.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(tokens, mask, previous_grad, do_update):
        (loss, n_trained), grad = loss_value_and_grad(model, tokens, mask)
        if previous_grad is not None:
            grad = tree_map(lambda a, b: a + b, grad, previous_grad)
        if do_update:
            if accumulation > 1:
                grad = tree_map(lambda g: g / accumulation, grad)
            optimizer.update(model, grad)
            grad = None
        return loss, n_trained, grad

    def checkpoint(done: int) -> Path:
        saved = save_checkpoint(
            config.out, CheckpointState(step=done, total_steps=total_steps, position=done * accumulation,
                                        epoch=epoch_at(done), seed=s.seed,
                                        rng_state=mx.random.state[0].tolist(), losses=list(losses),
                                        val_losses=[list(v) for v in val_losses], identity=identity),
            adapters=dict(tree_flatten(model.trainable_parameters())),
            optimizer_state=dict(tree_flatten(optimizer.state)), adapter_config=lora_config,
            keep=s.keep_checkpoints)
        publish_adapters(config.out, saved / "adapters.safetensors", lora_config)
        return saved

    if s.steps_per_eval and step == 0:  # the loss before training, for comparison (as mlx-lm does)
        initial = evaluate(model, valid_batches)
        if initial is not None:
            val_losses.append([0, initial])
            emit(ProgressEvent("val", 0, total_steps, 0.0, val_loss=initial))
    window = {"loss": 0.0, "steps": 0, "tokens": 0, "trained": 0, "seconds": 0.0}
    loop_started, first_step = time.perf_counter(), step
    model.train()
    with _gradient_checkpointing(model, s.grad_checkpoint):
        while step < total_steps:
            grad, step_loss = None, 0.0
            for micro in range(accumulation):
                batch = stream.batch(step * accumulation + micro)
                tokens, mask = mx.array(batch.tokens), mx.array(batch.mask)
                tic = time.perf_counter()
                loss, _n, grad = train_step(tokens, mask, grad, micro == accumulation - 1)
                mx.eval(state, loss, grad)
                window["seconds"] += time.perf_counter() - tic
                step_loss += loss.item() / accumulation
                window["tokens"] += batch.n_tokens
                window["trained"] += batch.n_trained
            step += 1
            losses.append(step_loss)
            window["loss"] += step_loss
            window["steps"] += 1
            eta = (time.perf_counter() - loop_started) / (step - first_step) * (total_steps - step)
            if step % s.steps_per_report == 0 or step == total_steps:
                seconds = max(window["seconds"], 1e-9)
                emit(ProgressEvent("report", step, total_steps, epoch_at(step),
                                   train_loss=window["loss"] / window["steps"],
                                   trained_tokens_per_s=window["trained"] / seconds,
                                   tokens_per_s=window["tokens"] / seconds, eta_seconds=eta))
                window = dict.fromkeys(window, 0)
            if (s.steps_per_eval and step % s.steps_per_eval == 0) or step == total_steps:
                val_loss = evaluate(model, valid_batches)
                if val_loss is not None:
                    val_losses.append([step, val_loss])
                    emit(ProgressEvent("val", step, total_steps, epoch_at(step), val_loss=val_loss, eta_seconds=eta))
            if step % s.save_every == 0 or step == total_steps:
                result.checkpoint = checkpoint(step)
                emit(ProgressEvent("checkpoint", step, total_steps, epoch_at(step), path=result.checkpoint))
    result.step = step
    emit(ProgressEvent("done", step, total_steps, epoch_at(step), train_loss=losses[-1] if losses else None,
                       val_loss=val_losses[-1][1] if val_losses else None, path=config.out))
    return result
