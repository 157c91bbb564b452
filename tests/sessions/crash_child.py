"""Child process of the crash test: records a slow scripted research session until it is killed.

    python crash_child.py DB new            # a new session
    python crash_child.py DB continue SID   # a follow-up question in a stored session

Prints ``READY`` once the store is open, ``SID <id>``, then ``EV <seq>`` after each event's
append has returned (so every printed event must be in the database), and ``DONE`` at the end.
Each streamed piece takes a millisecond or two, so a kill lands mid-generation as often as
mid-tool-call or mid-write.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sessionstest_helpers import (  # noqa: E402
    CIR_REPLIES,
    QUESTION,
    SlowScriptedBackend,
    scripted_runtime,
)

from iisearch_local.sessions import SessionStore  # noqa: E402
from iisearch_local.sessions.recorder import record  # noqa: E402
from iisearch_local.sessions.resume import resume_session  # noqa: E402

PIECE_DELAY_SECONDS = 0.0015
FOLLOW_UP = "Who built the Statue of Liberty's frame?"
FOLLOW_UP_REPLIES = [
    "Another search.\n<start_code>\n```python\n"
    "print(web_search(query=\"Statue of Liberty frame\", num_result=2))\n```\n<end_code>",
    "The frame came from Gustave Eiffel's company.\n</think>\n\n"
    "Gustave Eiffel's company built it ([Statue of Liberty]"
    "(https://local.example/statue-of-liberty)).",
]


def main(db: str, mode: str, session_id: str | None = None) -> None:
    store = SessionStore(db)
    print("READY", flush=True)
    replies = CIR_REPLIES if mode == "new" else FOLLOW_UP_REPLIES
    runtime = scripted_runtime([], backend=SlowScriptedBackend(replies, delay=PIECE_DELAY_SECONDS))
    if mode == "new":
        question = QUESTION
        sid = store.create(question=question, model="scripted-cir", backend="scripted",
                           protocol="cir")
        session = runtime.new_session()
    else:
        question = FOLLOW_UP
        sid = store.resolve(session_id or "")
        session = resume_session(runtime, store.get(sid))
    print(f"SID {sid}", flush=True)
    seq = store.summary(sid).events
    for _event in record(store, sid, session.run(question), session=session):
        print(f"EV {seq}", flush=True)
        seq += 1
    session.close()
    store.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
