"""Load benchmark: K simulated users x M messages, then an audit; the NLU floor; latency growth.

Users chat concurrently, each waiting for the bot's answer before writing again (most over REST,
some over socket.io), with a realistic mix drawn from tests/data/nlu_holdout.yml: FSGS questions,
gibberish (fallbacks) and escalations. Prints throughput, latency percentiles and errors, then
checks the stores: every message a user got an answer to is in the tracker store in order, every
reply the user received is recorded as a bot event, and every conversation that escalated has
exactly one ticket whose message count equals the escalations made.

    python bench/load.py        # 20 users x 20 messages on: 1 replica with the embedded defaults
                                # (SQLite), then parse-only on it (the NLU floor), then one user's
                                # 400-message conversation on it (latency growth); 1 and then 2
                                # replicas + action servers behind nginx (PostgreSQL, Redis);
                                # then the ratios the performance targets are stated in
    python bench/load.py --setups ha --users 20 --messages 5

Simulated users write as fast as the bot answers (a few messages a second), far above the
per-sender rate limit meant for people (RATE_LIMIT_PER_MINUTE, 30): the bench raises it so every
message reaches the dialogue; the guard itself still runs on each one.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import types
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import socketio
import sqlalchemy as sa
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# textstat's wheel installs a top-level `tests` package, which shadows this project's `tests`
# namespace package whatever the path order: bind the name to ours (for tests.support).
sys.modules["tests"] = types.ModuleType("tests")
sys.modules["tests"].__path__ = [str(Path(__file__).resolve().parent.parent / "tests")]

from bot.channels import rest  # noqa: E402
from bot.handoff.outbox import Outbox  # noqa: E402
from bot.handoff.store import HandoffStore  # noqa: E402
from bot.intents import ESCALATION_INTENTS  # noqa: E402
from bot.settings import PROJECT_ROOT, Settings  # noqa: E402

# Answers to the bot's own questions: out of context they rightly get no reply.
REPLIES_ONLY = {"affirm", "deny"}
ESCALATION_ACTION = "action_escalate_to_human"
MIX = (("question", 0.78), ("fallback", 0.10), ("escalation", 0.12))


def message_pools(path: Path = PROJECT_ROOT / "tests" / "data" / "nlu_holdout.yml") -> dict[str, list[str]]:
    """Held-out texts (never trained on) by kind; fallbacks are made-up words."""
    pools: dict[str, list[str]] = {"question": [], "escalation": []}
    for block in yaml.safe_load(path.read_text())["nlu"]:
        if block["intent"] in REPLIES_ONLY:
            continue
        kind = "escalation" if block["intent"] in ESCALATION_INTENTS else "question"
        pools[kind] += [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")]
    rng = random.Random(7)
    pools["fallback"] = [" ".join("".join(rng.choices("bcdfgklmnpqrstvwxz", k=rng.randint(4, 8)))
                                  for _ in range(rng.randint(2, 4))) for _ in range(200)]
    return pools


def script(rng: random.Random, pools: dict[str, list[str]], messages: int) -> list[str]:
    kinds = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=messages)
    return [rng.choice(pools[kind]) for kind in kinds]


@dataclass
class UserLog:
    """What one simulated user sent and saw."""

    conversation_id: str
    channel: str
    sender: str = ""                                    # REST: the id posted (its own namespace)
    sent: list[str] = field(default_factory=list)       # messages the server accepted
    unanswered: int = 0                                 # socket.io: accepted, no reply came
    received: list[str] = field(default_factory=list)   # reply texts, in order
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    finished: float = 0.0                               # monotonic time of its last answer


@dataclass
class LoadResult:
    users: list[UserLog]
    seconds: float

    @property
    def latencies(self) -> list[float]:
        return [x for u in self.users for x in u.latencies]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: int) -> float:
        lat = sorted(self.latencies)
        return (statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99)[q - 1]

    @property
    def errors(self) -> Counter:
        return sum((u.errors for u in self.users), Counter())

    def report(self, title: str) -> str:
        lat = sorted(self.latencies)
        q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99
        errors = self.errors
        silent = sum(u.unanswered for u in self.users)
        server_errors = sum(n for kind, n in errors.items() if kind.startswith("http 5"))
        return (f"{title}: {len(lat)} answered messages in {self.seconds:.1f} s = "
                f"{len(lat) / self.seconds:.1f} msg/s; latency p50 {q[49] * 1000:.0f} ms, "
                f"p95 {q[94] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms; "
                f"errors {sum(errors.values())} ({server_errors} 5xx) {dict(errors) or ''}"
                + (f"; {silent} socket.io message(s) without a reply" if silent else ""))


def last_answer(logs: list[UserLog]) -> float:
    """When the run's last answer came: the end of the timed run (what users do after it, such as
    waiting for stragglers, is not load on the server)."""
    return max(log.finished for log in logs) or time.monotonic()


async def rest_user(session: aiohttp.ClientSession, url: str, log: UserLog, texts: list[str]) -> None:
    for text in texts:
        started = time.monotonic()
        try:
            async with session.post(f"{url}/webhooks/rest/webhook",
                                    json={"sender": log.sender, "message": text}) as response:
                if response.status != 200:
                    log.errors[f"http {response.status}"] += 1
                    continue
                replies = await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.errors[type(exc).__name__] += 1
            continue
        log.latencies.append(time.monotonic() - started)
        log.sent.append(text)
        log.received += [r.get("text") or "" for r in replies]
        log.finished = time.monotonic()


async def socketio_user(url: str, log: UserLog, texts: list[str], reply_timeout: float = 60.0,
                        reply_lag: float = 5.0) -> None:
    """Send each message asking for an acknowledgement and write the next one once it comes:
    python-socketio acknowledges when the message handler returns, that is when the turn is
    processed and its replies emitted (the end of turn a REST response marks). Replies are
    collected as they arrive, in order. Through the Redis client manager (HA) a reply can arrive
    just after its ack: a turn whose reply has not come `reply_lag` seconds after the ack is
    unanswered, and after the last message the user waits `reply_lag` for stragglers, outside the
    timed run (`log.finished`)."""
    client = socketio.AsyncClient(reconnection=False)
    confirmed, replied = asyncio.Event(), asyncio.Event()

    def on_reply(data: dict) -> None:
        log.received.append(data.get("text") or "")
        replied.set()

    client.on("bot_uttered", on_reply)
    client.on("session_confirm", lambda *_: confirmed.set())
    try:
        await client.connect(url, transports=["websocket"], wait_timeout=60)  # busy servers
        await client.emit("session_request", {"session_id": log.conversation_id})
        await asyncio.wait_for(confirmed.wait(), 60)
        for text in texts:
            started = time.monotonic()
            replied.clear()
            log.sent.append(text)
            try:
                await client.call("user_uttered", {"message": text, "session_id": log.conversation_id},
                                  timeout=reply_timeout)
                await asyncio.wait_for(replied.wait(), reply_lag)
            except (socketio.exceptions.TimeoutError, asyncio.TimeoutError):
                log.unanswered += 1  # the audit tells a lost reply from a silent bot
                continue
            log.latencies.append(time.monotonic() - started)
            log.finished = time.monotonic()
        await asyncio.sleep(reply_lag)
    except (socketio.exceptions.SocketIOError, asyncio.TimeoutError) as exc:
        log.errors[type(exc).__name__] += 1  # e.g. the server dropped the socket
    finally:
        await client.disconnect()


async def run_load(url: str, users: int, messages: int, socketio_share: float = 0.1,
                   seed: int = 1) -> LoadResult:
    """`users` concurrent conversations of `messages` messages each through `url`."""
    rng = random.Random(seed)
    pools = message_pools()
    socket_users = round(users * socketio_share)
    ids = [uuid.uuid4().hex for _ in range(users)]
    logs = [UserLog(id_, "socketio") if i < socket_users else
            UserLog(rest.conversation_id(id_), "rest", sender=id_) for i, id_ in enumerate(ids)]
    timeout = aiohttp.ClientTimeout(total=180)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.monotonic()
        await asyncio.gather(*(
            socketio_user(url, log, script(rng, pools, messages)) if log.channel == "socketio"
            else rest_user(session, url, log, script(rng, pools, messages)) for log in logs))
        return LoadResult(logs, last_answer(logs) - started)


async def run_parse(url: str, token: str, users: int, messages: int, seed: int = 1) -> LoadResult:
    """The NLU floor: the same texts through `/model/parse` (no dialogue, no stores)."""
    rng = random.Random(seed)
    pools = message_pools()
    logs = [UserLog(f"parse-{i}", "parse") for i in range(users)]

    async def parse_user(session: aiohttp.ClientSession, log: UserLog) -> None:
        for text in script(rng, pools, messages):
            started = time.monotonic()
            async with session.post(f"{url}/model/parse", params={"token": token},
                                    json={"text": text}) as response:
                await response.read()
                if response.status != 200:
                    log.errors[f"http {response.status}"] += 1
                    continue
            log.latencies.append(time.monotonic() - started)
            log.finished = time.monotonic()

    timeout = aiohttp.ClientTimeout(total=180)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.monotonic()
        await asyncio.gather(*(parse_user(session, log) for log in logs))
        return LoadResult(logs, last_answer(logs) - started)


async def run_growth(url: str, messages: int = 400, block: int = 20,
                     seed: int = 3) -> tuple[list[float], list[float]]:
    """One user, one REST conversation of `messages` FSGS questions, one at a time (a turn that
    re-reads the whole history gets slower as it grows). Its last `block` messages alternate with
    the first `block` messages of a new user, so both are timed under the same load on a shared
    machine. Returns (the long conversation's latencies, the new one's), in order."""
    rng = random.Random(seed)
    questions = message_pools()["question"]
    long, new = (UserLog(rest.conversation_id(s), "rest", sender=s)
                 for s in (f"growth-{uuid.uuid4().hex[:8]}", f"fresh-{uuid.uuid4().hex[:8]}"))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180)) as session:
        await rest_user(session, url, long, [rng.choice(questions) for _ in range(messages - block)])
        for n in range(block):
            pair = (long, new) if n % 2 else (new, long)
            for log in pair:
                await rest_user(session, url, log, [rng.choice(questions)])
    for log, expected in ((long, messages), (new, block)):
        if log.errors or len(log.latencies) != expected:
            raise RuntimeError(f"growth probe: {dict(log.errors)} errors, {len(log.latencies)} answers")
    return long.latencies, new.latencies


def growth_report(latencies: list[float], fresh: list[float], block: int = 20) -> tuple[str, float, float]:
    """Median latency per block of `block` messages; last block / first block; last block / a
    new conversation's first block timed alongside it."""
    medians = [statistics.median(latencies[i:i + block]) for i in range(0, len(latencies), block)]
    line = ", ".join(f"{i * block + 1}-{(i + 1) * block}: {m * 1000:.0f}" for i, m in enumerate(medians))
    alongside = statistics.median(fresh)
    return (f"median ms per block of {block} messages: {line}; a new conversation's messages 1-{block}, "
            f"alternating with the last block: {alongside * 1000:.0f}"), medians[-1] / medians[0], \
        medians[-1] / alongside


def recorded_events(tracker_store_url: str, conversation_ids: list[str]) -> dict[str, list[dict]]:
    """The tracker store's events per conversation, read-only (Rasa's own `events` table)."""
    engine = sa.create_engine(tracker_store_url)
    events: dict[str, list[dict]] = defaultdict(list)
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT sender_id, data FROM events WHERE sender_id IN :ids ORDER BY id"
        ).bindparams(sa.bindparam("ids", expanding=True)), {"ids": conversation_ids})
        for sender_id, data in rows:
            events[sender_id].append(json.loads(data))
    engine.dispose()
    return events


def audit(settings: Settings, result: LoadResult) -> list[str]:
    """Problems found in the stores after a run; empty when nothing was lost or duplicated.
    A user who saw no error must have received exactly the replies recorded for them, and each
    escalation is appended to the conversation's one ticket once: also when a replica died with
    the message and nginx handed it to another (bot/redelivery.py; the escalation's request id is
    the message's, the same on both)."""
    ids = [u.conversation_id for u in result.users]
    events = recorded_events(settings.tracker_store_url, ids)
    store = HandoffStore.from_url(settings.database_url)
    tickets = defaultdict(list)
    for ticket in store.list_tickets(statuses=("open", "claimed", "resolved"), limit=1_000_000):
        tickets[ticket.conversation_id].append(ticket)
    store.dispose()
    problems = []
    for user in result.users:
        recorded = events.get(user.conversation_id, [])
        said = [e.get("text") for e in recorded if e["event"] == "user"]
        if not (_in_order(user.sent, said) if user.errors else user.sent == said):
            problems.append(f"{user.conversation_id}: {len(user.sent)} accepted messages, tracker has "
                            f"{len(said)} user events not matching them")
        bot = [e.get("text") or "" for e in recorded if e["event"] == "bot"]
        if not (_in_order(user.received, bot) if user.errors else user.received == bot):
            problems.append(f"{user.conversation_id}: received {len(user.received)} replies, tracker "
                            f"has {len(bot)} bot events not matching them")
        escalations = sum(1 for e in recorded
                          if e["event"] == "action" and e.get("name") == ESCALATION_ACTION)
        found = tickets.get(user.conversation_id, [])
        if escalations and (len(found) != 1 or found[0].message_count != escalations):
            problems.append(f"{user.conversation_id}: {escalations} escalations, tickets "
                            f"{[(t.id, t.message_count) for t in found]}")
        if not escalations and found:
            problems.append(f"{user.conversation_id}: no escalation but {len(found)} ticket(s)")
    return problems


def _in_order(expected: list[str], recorded: list[str]) -> bool:
    """`expected` is a subsequence of `recorded` (a message whose answer was lost in transit may
    still have been recorded; nothing answered may be missing)."""
    remaining = iter(recorded)
    return all(any(item == seen for seen in remaining) for item in expected)


def escalated(result: LoadResult, settings: Settings) -> int:
    events = recorded_events(settings.tracker_store_url, [u.conversation_id for u in result.users])
    return sum(1 for evs in events.values()
               if any(e["event"] == "action" and e.get("name") == ESCALATION_ACTION for e in evs))


def _print_audit(title: str, settings: Settings, result: LoadResult) -> bool:
    # Escalations made while the queue's database was busy wait in the outbox until the next
    # escalation (or `fsgs-bot handoff replay`) applies them: do that first, as production would.
    store = HandoffStore.from_url(settings.database_url)
    replayed = Outbox(settings.outbox_dir).replay(store)
    store.dispose()
    problems = audit(settings, result)
    print(f"  outbox: {replayed.applied} escalation(s) had been queued offline and were replayed, "
          f"{replayed.remaining + replayed.rejected} left")
    print(f"  audit: {sum(len(u.sent) for u in result.users)} user messages and "
          f"{sum(len(u.received) for u in result.users)} bot replies checked, "
          f"{escalated(result, settings)} escalated conversations; "
          f"{len(problems)} problem(s)", flush=True)
    for problem in problems[:20]:
        print(f"    {problem}")
    return not problems and not any(k.startswith("http 5") for k in result.errors)


# 200 users open more than NEW_TICKETS_PER_MINUTE tickets at once, and the audit expects each
# escalated conversation to have its ticket now (a held one waits in the outbox by design).
NO_TICKET_CAP = {"NEW_TICKETS_PER_MINUTE": "0"}


def _run_dir(prefix: str) -> Path:
    """A folder for the run's databases and service logs, kept for inspection."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    print(f"  (stores and logs of this run: {path})", flush=True)
    return path


# Simulated users answer as fast as the bot does: far above the limit meant for people.
BENCH_VARIABLES = {"RATE_LIMIT_PER_MINUTE": "1000000", **NO_TICKET_CAP}


def bench_ha(args: argparse.Namespace, measured: dict[str, object]) -> bool:
    from tests.support.ha import fresh_postgres_database, start_ha

    ok = True
    for replicas in sorted({1, args.replicas}):
        var = _run_dir(f"fsgs-load-ha{replicas}-")
        with fresh_postgres_database() as db:
            running = start_ha(var, db, replicas=replicas, action_servers=replicas, **BENCH_VARIABLES)
            try:
                result = asyncio.run(run_load(running.settings.rasa_url, args.users, args.messages))
                title = (f"{replicas} replica(s) + {replicas} action server(s) behind nginx "
                         f"(PostgreSQL, Redis)")
                print(result.report(title), flush=True)
                measured[f"ha{replicas}"] = result
                ok = _print_audit(title, running.settings, result) and ok
            finally:
                running.stack.stop()
    return ok


def bench_single(args: argparse.Namespace, measured: dict[str, object]) -> bool:
    from tests.support.stack import start_stack

    running = start_stack(_run_dir("fsgs-load-one-"), **BENCH_VARIABLES)
    try:
        result = asyncio.run(run_load(running.settings.rasa_url, args.users, args.messages))
        title = "1 replica, embedded defaults (SQLite, in-memory locks)"
        print(result.report(title), flush=True)
        measured["single"] = result
        ok = _print_audit(title, running.settings, result)
        parse = asyncio.run(run_parse(running.settings.rasa_url, running.settings.rasa_auth_token,
                                      args.users, args.messages))
        print(parse.report("parse only (/model/parse on that replica, the floor)"), flush=True)
        measured["parse"] = parse
        if args.growth:
            latencies, fresh = asyncio.run(run_growth(running.settings.rasa_url, args.growth))
            line, measured["growth"], measured["growth_alongside"] = growth_report(latencies, fresh)
            print(f"one user, one conversation of {args.growth} messages (REST, same replica): {line}",
                  flush=True)
        return ok
    finally:
        running.stack.stop()


def print_ratios(measured: dict[str, object], args: argparse.Namespace) -> None:
    """The performance targets of docs/performance.md, from this run's measurements."""
    single, parse = measured.get("single"), measured.get("parse")
    print("ratios (this run):")
    if isinstance(single, LoadResult) and isinstance(parse, LoadResult):
        print(f"  1 replica / parse-only: {single.rate:.1f} / {parse.rate:.1f} msg/s = "
              f"{single.rate / parse.rate:.2f} (target >= 0.50); 1-replica p95 "
              f"{single.percentile(95) * 1000:.0f} ms (target <= 400 ms)")
    ha1, ha2 = measured.get("ha1"), measured.get(f"ha{args.replicas}")
    if isinstance(ha1, LoadResult) and isinstance(ha2, LoadResult) and ha2 is not ha1:
        print(f"  {args.replicas} replicas / 1 replica behind nginx: {ha2.rate:.1f} / {ha1.rate:.1f} msg/s = "
              f"{ha2.rate / ha1.rate:.2f} (target >= 1.70)")
    if "growth" in measured:
        print(f"  latency growth, median of messages {args.growth - 19}-{args.growth} / 1-20 of the same "
              f"conversation: {measured['growth']:.2f}; / 1-20 of a new conversation timed alongside: "
              f"{measured['growth_alongside']:.2f} (target <= 1.50)")


async def push_delivery(url: str, api_url: str, token: str, users: int = 20,
                        pushes: int = 5) -> tuple[int, int, list[float]]:
    """Socket.io users spread over the replicas (`url`); staff messages pushed through Rasa's HTTP
    API (`api_url`, any replica). Returns (delivered, pushed, push-to-socket latencies)."""
    from bot.rasa_api import RasaClient

    rasa = RasaClient(api_url, token)
    clients, inboxes = [], []
    for _ in range(users):
        client, inbox, session = socketio.AsyncClient(reconnection=False), asyncio.Queue(), uuid.uuid4().hex
        client.on("bot_uttered", lambda data, inbox=inbox: inbox.put_nowait((time.monotonic(), data)))
        await client.connect(url, transports=["websocket"])
        await client.emit("session_request", {"session_id": session})
        await client.emit("user_uttered", {"message": "hello", "session_id": session})
        clients.append((client, session))
        inboxes.append(inbox)
    await asyncio.sleep(5)
    for inbox in inboxes:
        while not inbox.empty():
            inbox.get_nowait()
    sent_at = {}
    for n in range(pushes):
        for _client, session in clients:
            sent_at[(session, n)] = time.monotonic()
            await rasa.push(session, f"staff {n}", "Care team")
    await asyncio.sleep(5)
    latencies = []
    for (client, session), inbox in zip(clients, inboxes, strict=True):
        while not inbox.empty():
            at, data = inbox.get_nowait()
            n = int(data["text"].split()[-1])
            latencies.append(at - sent_at[(session, n)])
        await client.disconnect()
    return len(latencies), len(sent_at), sorted(latencies)


def bench_push(args: argparse.Namespace, measured: dict[str, object]) -> bool:
    """Staff pushes to socket.io users with and without python-socketio's Redis manager."""
    from bot.cli import ha
    from tests.support.ha import fresh_postgres_database, start_ha

    for redis in (True, False):
        with tempfile.TemporaryDirectory(prefix="fsgs-push-") as var, fresh_postgres_database() as db:
            running = start_ha(Path(var), db, **({} if redis else {"REDIS_URL": ""}))
            try:
                delivered, pushed, lat = asyncio.run(push_delivery(
                    running.settings.rasa_url, ha.rasa_api_url(running.stack),
                    running.settings.rasa_auth_token))
            finally:
                running.stack.stop()
        median = f", median push-to-socket {statistics.median(lat) * 1000:.0f} ms" if lat else ""
        print(f"socket.io pushes through 2 replicas, {'Redis manager' if redis else 'no shared manager'}: "
              f"{delivered}/{pushed} delivered{median}", flush=True)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--growth", type=int, default=400,
                        help="messages in the one-user latency-growth conversation (0: skip)")
    parser.add_argument("--setups", nargs="+", choices=("ha", "single", "push"), default=["single", "ha"],
                        help="push: staff messages to socket.io users with and without the Redis manager")
    args = parser.parse_args()
    print(f"{args.users} users x {args.messages} messages", flush=True)
    runs = {"ha": bench_ha, "single": bench_single, "push": bench_push}
    measured: dict[str, object] = {}
    ok = [runs[name](args, measured) for name in args.setups]
    print_ratios(measured, args)
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
