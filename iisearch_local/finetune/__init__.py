"""Fine-tuning on research traces: dataset building (any machine) and MLX training.

Data flows ``traces`` (session store, exported JSON, jsonl) → ``examples.TraceExample`` (text
segments, each trained or masked) → ``filters`` → ``examples.TokenizedExample`` (token ids plus the
token ranges the loss may see) → ``train`` (mlx-lm's LoRA/DoRA layers, our masked loss and loop) →
``fuse`` (a plain model folder the conversion commands take).
"""
