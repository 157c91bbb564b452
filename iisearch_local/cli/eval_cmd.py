"""``iisearch eval``: run a benchmark (SimpleQA, FRAMES, Seal-0 or your own file) through full
research sessions, judge every answer with the benchmark's grader prompt, and print the
model-card table. Results go to ``OUT/results.jsonl`` as they finish; rerunning the same
command with the same ``--out`` resumes where it stopped.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import UserFacingError

DEFAULT_OUT_ROOT = Path("iisearch-eval")
REPORT_FILE = "report.md"


def open_judge(spec: str, *, judge_model: str, config) -> object:
    """``spec`` is an OpenAI-compatible server URL, or a local model name / file."""
    from ..evals.judge import BackendJudge, ChatJudge

    if spec.startswith(("http://", "https://")):
        return ChatJudge(spec, model=judge_model, api_key=os.environ.get("OPENAI_API_KEY", ""))
    from ..backends.registry import load_backend
    from ..models.resolve import load_options_from_config, resolve_model

    resolved = resolve_model(spec, backend="auto", config=config)
    return BackendJudge(load_backend("auto", resolved.path, load_options_from_config(config)))


@click.command("eval")
@click.argument("benchmark", metavar="simpleqa|frames|seal0|FILE")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding simpleqa_test.csv / frames_test.csv / seal0.jsonl "
                   "(default: $IISEARCH_EVAL_DATA).")
@click.option("--model", "model_name", help="Model to evaluate (default: model.name).")
@click.option("--backend", type=click.Choice(["auto", "llama", "mlx", "openai"]), default=None,
              help="Force a backend (default: backend.name from the config).")
@click.option("--search", "engines", multiple=True, metavar="NAME",
              help="Search engine (repeatable; default: search.engines).")
@click.option("--limit", type=int, default=None, help="Only the first N questions.")
@click.option("--sample", type=int, default=None, help="A random sample of N questions.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option("--judge", "judge_spec", required=True, metavar="URL_OR_MODEL",
              help="Judge: an OpenAI-compatible server URL (chat endpoint), or a local model.")
@click.option("--judge-model", default="", help="Model name to ask the judge server for.")
@click.option("--grader", type=click.Choice(["simpleqa", "frames", "seal0"]), default=None,
              help="Grader prompt (default: the benchmark's own; simpleqa for a FILE).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Research sessions at once (each loads its own backend and search tools).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help=f"Run folder (default: {DEFAULT_OUT_ROOT}/BENCHMARK).")
@click.pass_obj
def command(app, benchmark: str, data_dir: Path | None, model_name: str | None,
            backend: str | None, engines: tuple[str, ...], limit: int | None,
            sample: int | None, seed: int, judge_spec: str, judge_model: str,
            grader: str | None, concurrency: int, out_dir: Path | None) -> None:
    """Evaluate the model on BENCHMARK and print the model-card table."""
    from ..evals.datasets import load_benchmark, select
    from ..evals.judge import GRADERS
    from ..evals.report import markdown_report, summarize
    from ..evals.runner import run_eval
    from ..research.factory import ResearchRuntime, plan_session

    config = app.config
    bench = load_benchmark(benchmark, data_dir=data_dir, grader=grader)
    items = select(bench.items, sample=sample, seed=seed, limit=limit)
    plan = plan_session(config, model=model_name, backend=backend, engines=engines)
    out = out_dir or DEFAULT_OUT_ROOT / bench.name
    judge = open_judge(judge_spec, judge_model=judge_model, config=config)
    click.echo(f"{bench.name}: {len(items)} questions, model {plan.model_name}, "
               f"search {plan.describe_search()}, results in {out}", err=True)

    def show(record) -> None:
        click.echo(f"[{record.id}] {record.verdict:<13} {record.question[:70]}", err=True)

    try:
        records = run_eval(items, open_runtime=lambda: ResearchRuntime.open(plan, config),
                           judge=judge, grader=GRADERS[bench.grader], out_dir=out,
                           concurrency=concurrency, on_record=show)
    except OSError as exc:
        raise UserFacingError(f"cannot write the results in {out}: {exc}") from None
    finally:
        judge.close()
    wanted = {item.id for item in items}
    summary = summarize(bench.name, [r for r in records if r.id in wanted])
    report = markdown_report([summary], model=plan.model_name, judge=judge_spec)
    (out / REPORT_FILE).write_text(report, encoding="utf-8")
    click.echo(report)
