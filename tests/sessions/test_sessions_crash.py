"""The crash test: ``kill -9`` a recording process at random moments; nothing completed is lost.

Each round starts ``crash_child.py`` on the same database (a new session, or a follow-up of a
session an earlier kill interrupted) and kills it with SIGKILL at a random moment: a few rounds
during start-up and the store's open/migration, the others after a random number of recorded
events plus a random few milliseconds (mid-generation, mid-tool-call, mid-write), which keeps
the kills spread over the run however fast the machine is. After every
kill the file must pass SQLite's integrity checks, hold every event the child reported as
appended, show the session as interrupted (or answered, if the child got to the end), and the
interrupted session must be continuable. The random seed is in every failure message.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sessionstest_helpers import CIR_FOLLOW_UP, FOLLOW_UP, scripted_runtime

from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.sessions import SessionStore
from iisearch_local.sessions.recorder import record
from iisearch_local.sessions.resume import resume_session

CHILD = Path(__file__).with_name("crash_child.py")
ROUNDS = 22
EARLY_KILLS = 4  # rounds killed before the child reports READY (start-up, open, migration)
EARLY_WINDOW_SECONDS = 0.45  # about the child's start-up time
NEW_SESSION_EVENTS = 76  # events a child's new session records (a follow-up: about 25)
FOLLOW_UP_EVENTS = 25
EXTRA_DELAY_SECONDS = 0.02  # after the chosen event: lands anywhere in the next step
CHILD_TIMEOUT_SECONDS = 30.0

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX kill -9")


def run_and_kill(db: Path, args: list[str], *, after_events: int | None,
                 delay: float) -> list[str]:
    """Start the child and SIGKILL it ``delay`` s after start (``after_events=None``) or after
    it reported that many events; returns the complete lines it printed."""
    child = subprocess.Popen([sys.executable, str(CHILD), str(db), *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        if after_events is not None:
            deadline = time.monotonic() + CHILD_TIMEOUT_SECONDS
            events = 0
            while time.monotonic() < deadline:
                line = child.stdout.readline()
                if not line:  # the child ended by itself
                    break
                lines.append(line)
                events += line.startswith("EV ")
                if (after_events == 0 and line == "READY\n") or events >= after_events > 0:
                    break
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=CHILD_TIMEOUT_SECONDS)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    lines += out.splitlines(keepends=True)
    # A child that died of anything but our kill (a bug, an exception) fails the test.
    assert child.returncode in (-signal.SIGKILL, 0), err
    return [line.rstrip("\n") for line in lines if line.endswith("\n")]  # drop a cut last line


def check_database(db: Path, lines: list[str], context: str) -> tuple[str | None, str | None]:
    """Integrity, every reported event present, the right status; returns (id, status)."""
    store = SessionStore(db)  # opening recovers what the killed child left running
    try:
        assert store._db.execute("PRAGMA integrity_check").fetchall() == [("ok",)], context
        store._db.execute("INSERT INTO session_search(session_search) VALUES ('integrity-check')")
        sid = next((line.split()[1] for line in lines if line.startswith("SID ")), None)
        if sid is None:
            return None, None
        stored = store.get(sid)
        seqs = [record.seq for record in stored.records]
        assert seqs == list(range(len(seqs))), context  # no holes
        reported = [int(line.split()[1]) for line in lines if line.startswith("EV ")]
        missing = sorted(set(reported) - set(seqs))
        assert not missing, f"{context}: reported but not stored: {missing}"
        # Killed after the Finished event was committed, the turn is complete: "answered".
        ended = bool(stored.records) and stored.records[-1].event.type == "finished"
        assert ended or "DONE" not in lines, context
        assert stored.status == ("answered" if ended else "interrupted"), context
        assert all(turn.status != "running" for turn in stored.turns), context
        return sid, stored.status
    finally:
        store.close()


def test_kill_9_at_random_moments_loses_no_completed_event(tmp_path):
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    db = tmp_path / "sessions.db"
    interrupted: list[str] = []
    early_rounds = set(rng.sample(range(ROUNDS), EARLY_KILLS)) | {0}
    killed_mid_run = 0
    for number in range(ROUNDS):
        early = number in early_rounds
        follow_up = bool(interrupted) and number % 3 == 2 and not early
        args = ["continue", interrupted[-1]] if follow_up else ["new"]
        if early:
            after_events, delay = None, rng.uniform(0.0, EARLY_WINDOW_SECONDS)
        else:
            total = FOLLOW_UP_EVENTS if follow_up else NEW_SESSION_EVENTS
            after_events = rng.randint(0, total)
            delay = rng.uniform(0.0, EXTRA_DELAY_SECONDS)
        context = (f"seed {seed}, round {number} ({' '.join(args)}, kill after "
                   f"{after_events} events + {delay:.3f} s)")
        lines = run_and_kill(db, args, after_events=after_events, delay=delay)
        sid, status = check_database(db, lines, context)
        if status == "interrupted":
            killed_mid_run += 1
            if sid not in interrupted:
                interrupted.append(sid)
    assert killed_mid_run >= ROUNDS // 3, f"seed {seed}: kills rarely landed mid-run"

    # Any interrupted session goes on: a follow-up runs on its stored trace and answers.
    store = SessionStore(db)
    try:
        sid = interrupted[0]
        stored = store.get(sid)
        backend = ScriptedBackend(CIR_FOLLOW_UP)
        session = resume_session(scripted_runtime([], backend=backend), stored)
        events = list(record(store, sid, session.run(FOLLOW_UP), session=session))
        assert events[-1].reason == "answered", f"seed {seed}"
        assert backend.prompts[0].startswith(stored.trace), f"seed {seed}"
        again = store.get(sid)
        assert again.status == "answered" and again.turns[-1].question == FOLLOW_UP
        assert again.records[: len(stored.records)] == stored.records  # the past is untouched
    finally:
        store.close()
