"""``iisearch finetune data build``: research traces in, a loss-masked training dataset out.

Sources: the session history (``--from-store``, all sessions or ``--session ID``), exported
sessions (``--from-export``), ``iisearch eval`` results (``--from-eval``) and jsonl traces in
our documented format (``--from-jsonl``, see docs/finetune-traces.md). The counts of every step
go to stderr; the last line (stdout) says what was written.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..finetune.filters import DEFAULT_MAX_LENGTH, DEFAULT_MIN_TOOL_CALLS


@click.group("data")
def data_group() -> None:
    """Build training datasets from research traces."""


@data_group.command("build")
@click.option("--tokenizer", "tokenizer", required=True, metavar="MODEL_DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the model you will train (its tokenizer.json is used).")
@click.option("--out", "out", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Dataset folder to write (train.jsonl, valid.jsonl, build.json).")
@click.option("--from-store", is_flag=True, help="Read the sessions of your history.")
@click.option("--session", "session_ids", multiple=True, metavar="ID",
              help="Only this stored session (repeatable; implies --from-store).")
@click.option("--from-export", "exports", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="A session exported with `iisearch sessions export --format json` (repeatable).")
@click.option("--from-jsonl", "jsonl", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Traces in the jsonl format of docs/finetune-traces.md (repeatable).")
@click.option("--from-eval", "evals", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="An `iisearch eval` results.jsonl (repeatable).")
@click.option("--protocol", type=click.Choice(["cir", "tools"]), default=None,
              help="The model's protocol (default: the one the traces use).")
@click.option("--gold", "gold_files", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Benchmark-style CSV/JSONL of questions and answers: reference answers for "
                   "traces that carry none (repeatable).")
@click.option("--judge", "judge_spec", default=None, metavar="URL_OR_MODEL",
              help="Judge correctness with an LLM (an OpenAI-compatible server URL or a local "
                   "model) instead of matching the answer.")
@click.option("--judge-model", default="", help="Model name to ask the judge server for.")
@click.option("--grader", type=click.Choice(["simpleqa", "frames", "seal0"]), default="simpleqa",
              show_default=True, help="Grader prompt the judge uses.")
@click.option("--min-tool-calls", type=click.IntRange(min=0), default=DEFAULT_MIN_TOOL_CALLS,
              show_default=True, help="Rejection sampling: fewest tool calls a kept trace made.")
@click.option("--no-rejection", is_flag=True,
              help="Keep traces whatever their answer and tool calls.")
@click.option("--max-length", type=click.IntRange(min=0), default=DEFAULT_MAX_LENGTH,
              show_default=True, help="Drop examples longer than this many tokens (0: no limit).")
@click.option("--no-decontaminate", is_flag=True,
              help="Do not drop questions that overlap the benchmarks.")
@click.option("--benchmarks", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Folder of the benchmark files to decontaminate against "
              "(default: $IISEARCH_EVAL_DATA, else $IISEARCH_SHARED/data).")
@click.option("--no-dedup", is_flag=True, help="Keep duplicate traces.")
@click.option("--valid-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.05,
              show_default=True, help="Share of the examples held out for validation (the "
                                      "traces of one question stay together).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
@click.option("--date", default=None, metavar="HTTP_DATE",
              help="Date shown in the prompt of jsonl traces that carry none, like 'Mon, 02 Jun "
                   "2025 14:03:00 GMT' (default: the time of the build).")
@click.pass_obj
def build(app, tokenizer: Path, out: Path, from_store: bool, session_ids: tuple[str, ...],
          exports: tuple[Path, ...], jsonl: tuple[Path, ...], evals: tuple[Path, ...],
          protocol: str | None, gold_files: tuple[Path, ...], judge_spec: str | None,
          judge_model: str, grader: str, min_tool_calls: int, no_rejection: bool,
          max_length: int, no_decontaminate: bool, benchmarks: Path | None, no_dedup: bool,
          valid_fraction: float, seed: int, date: str | None) -> None:
    """Turn research traces into a training dataset for the model's protocol."""
    from ..finetune.build import EmptyDatasetError, build_dataset
    from ..research.settings import ResearchSettings
    from ..sessions import SessionStore

    config = app.config
    judge = grader_obj = None
    if judge_spec and not no_rejection:
        from ..evals.judge import GRADERS
        from .eval_cmd import open_judge

        judge = open_judge(judge_spec, judge_model=judge_model, config=config)
        grader_obj = GRADERS[grader]
    store = SessionStore() if (from_store or session_ids) else None
    try:
        report = build_dataset(
            tokenizer=tokenizer, out=out, store=store, session_ids=session_ids,
            exports=exports, jsonl=jsonl, evals=evals, protocol=protocol,
            gold_files=gold_files, judge=judge, grader=grader_obj, rejection=not no_rejection,
            min_tool_calls=min_tool_calls, max_length=max_length,
            decontaminate=not no_decontaminate, benchmarks=benchmarks, dedup=not no_dedup,
            valid_fraction=valid_fraction, seed=seed, date=date,
            settings=ResearchSettings.from_config(config))
    except EmptyDatasetError as exc:
        click.echo(format_counts(exc.report), err=True)
        raise
    finally:
        if store is not None:
            store.close()
        if judge is not None:
            judge.close()
    click.echo(format_counts(report), err=True)
    click.echo(f"Wrote {report.train.examples} training and {report.valid.examples} validation "
               f"examples ({report.train.tokens + report.valid.tokens} tokens, "
               f"{report.train.trained_tokens + report.valid.trained_tokens} trained) to {out}")


def format_counts(report) -> str:
    """The sources and the steps of a build, as the table ``data build`` prints."""
    lines = ["Sources:"]
    for source in report.sources:
        skipped = sum(source.skipped.values())
        lines.append(f"  {source.name}: {source.read} read, {skipped} skipped")
        lines += [f"    - {reason}: {count}" for reason, count in sorted(source.skipped.items())]
    rows = [("step", "in", "dropped", "kept")]
    rows += [(f.name, str(f.seen), str(f.dropped), str(f.kept)) for f in report.filters]
    width = max(len(r[0]) for r in rows)
    lines.append("")
    for index, row in enumerate(rows):
        lines.append(f"  {row[0]:<{width}}  {row[1]:>6}  {row[2]:>7}  {row[3]:>6}")
        if index:
            step = report.filters[index - 1]
            lines += [f"    - {reason}: {count}" for reason, count in sorted(step.reasons.items())]
    return "\n".join(lines)
