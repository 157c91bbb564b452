"""Offline builders of tiny test models (Qwen3 in Hugging Face, GGUF and MLX formats)."""
