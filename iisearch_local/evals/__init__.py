"""Benchmark harness: run SimpleQA / FRAMES / Seal-0 (or a user's file) through full research
sessions, judge each answer with the benchmark's own grader prompt, report like the model cards."""

from .datasets import Benchmark, EvalItem, load_benchmark, read_items, select
from .judge import GRADERS, BackendJudge, ChatJudge, Grader, Judge
from .report import EvalSummary, markdown_report, summarize, wilson_interval
from .runner import EvalRecord, read_records, run_eval

__all__ = [
    "GRADERS", "BackendJudge", "Benchmark", "ChatJudge", "EvalItem", "EvalRecord", "EvalSummary",
    "Grader", "Judge", "load_benchmark", "markdown_report", "read_items", "read_records",
    "run_eval", "select", "summarize", "wilson_interval",
]
