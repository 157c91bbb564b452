"""Child process of the resume test: run an eval slowly so the test can SIGKILL it mid-run.

Usage: eval_child.py QUESTIONS.jsonl JUDGE_URL OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from evaltest_helpers import runtime_factory  # noqa: E402

from iisearch_local.evals import GRADERS, ChatJudge, read_items, run_eval  # noqa: E402

SECONDS_PER_QUESTION = 0.3

if __name__ == "__main__":
    data, judge_url, out = sys.argv[1:4]
    items = read_items(Path(data))
    run_eval(items, open_runtime=runtime_factory(items, delay=SECONDS_PER_QUESTION),
             judge=ChatJudge(judge_url, retries=0), grader=GRADERS["simpleqa"],
             out_dir=Path(out))
