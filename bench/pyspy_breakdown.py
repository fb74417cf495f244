"""Where a turn's time goes, from a py-spy profile of the Rasa server under load.

    py-spy record -p <rasa pid> -d 40 -r 100 -f raw -o turn.txt   # while bench/load.py runs
    python bench/pyspy_breakdown.py turn.txt

Shares are of the samples of the event loop thread (everything every user waits for, one at a
time), plus the busy time of worker threads (database work this project moved off the loop) in
the same unit. A sample counts in each category whose frame it contains, so nested categories
(e.g. the JSON Schema check inside an action server call) are also inside their parent.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

EVENT_LOOP = "serve_application (rasa/core/run.py"
WORKER_BUSY = "run (concurrent/futures/thread.py"
CATEGORIES: list[tuple[str, str]] = [
    ("whole turn (processor.handle_message)", "handle_message (rasa/core/processor.py"),
    ("NLU parse", "parse_message (rasa/core/processor.py"),
    ("tracker load, on the loop (Rasa SQLTrackerStore)", "_retrieve (rasa/core/tracker_store.py"),
    ("tracker save, on the loop (Rasa SQLTrackerStore)", "save (rasa/core/tracker_store.py"),
    ("tracker load, worker thread (windowed store)", "_load_window (bot/tracker_store.py"),
    ("tracker save, worker thread (windowed store)", "_append (bot/tracker_store.py"),
    ("rule prediction (RulePolicy via the graph)", "_predict_next_with_tracker (rasa/core/processor.py"),
    ("  of which states featurisation", "_prediction_states (rasa/core/policies/policy.py"),
    ("action server round trips (custom actions)", "run (rasa/core/actions/action.py"),
    ("  of which JSON Schema check of the response", "_validate_action_result"),
    ("session start check / action_session_start", "_update_tracker_session"),
    ("slot extraction (action_extract_slots)", "run_action_extract_slots"),
    ("lock store", "lock (rasa/core/lock_store.py"),
    ("REST pending staff messages (worker thread)", "_take_pending (bot/channels/rest.py"),
    ("size/rate guard", "allow (bot/channels/guard.py"),
    ("socket.io channel", "socketio/"),
    ("logging", "logging/__init__.py"),
]


def breakdown(path: Path) -> tuple[int, int, Counter]:
    loop = workers = 0
    counts: Counter = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        samples = int(n)
        if EVENT_LOOP in stack:
            loop += samples
        elif WORKER_BUSY in stack:
            workers += samples
        else:
            continue  # idle worker threads, TensorFlow's own pool
        for name, frame in CATEGORIES:
            if frame in stack:
                counts[name] += samples
    return loop, workers, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy record -f raw output")
    path = parser.parse_args().profile
    loop, workers, counts = breakdown(path)
    print(f"{path}: {loop} event-loop samples, {workers} busy worker-thread samples")
    print("| where | share of event-loop samples |\n|---|---|")
    for name, _ in CATEGORIES:
        if counts[name]:
            print(f"| {name} | {100 * counts[name] / loop:.1f}% |")


if __name__ == "__main__":
    main()
