"""`action_escalate_to_human`, every branch, on a real SQLite queue."""
from __future__ import annotations

import asyncio
import sqlite3

from rasa_sdk.events import ActiveLoop, FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.escalation import ActionEscalateToHuman
from tests.actions.conftest import EMERGENCY_NUMBER, SATURDAY_NOON, make_handoff, run, tracker, user_event
from tests.support.alert_peers import webhook_receiver

DEAD_DATABASE = "postgresql://postgres@127.0.0.1:1/test"


def only_ticket(handoff, sender):
    return handoff.store.open_ticket_for(sender)


def test_personal_advice_in_staffed_hours_opens_a_normal_ticket_and_promises_a_person(tmp_path, domain):
    handoff = make_handoff(tmp_path)
    current = tracker("should I stop my prednisone", "personal_advice")
    events, texts, _ = run(ActionEscalateToHuman(handoff), current, domain)
    ticket = only_ticket(handoff, current.sender_id)
    assert (ticket.reason, ticket.priority, ticket.channel, ticket.message_count) == (
        "personal_advice", "normal", "rest", 1)
    assert ticket.first_message == "should I stop my prednisone"
    assert texts == ["I can't advise on your own case, so I've passed your question to the care team. "
                     "A member of the care team will join this chat here as soon as they can. Your "
                     "earlier messages are shared with them."]
    assert events == []


def test_a_second_question_is_appended_to_the_open_ticket(tmp_path, domain):
    handoff = make_handoff(tmp_path)
    action = ActionEscalateToHuman(handoff)
    first = tracker("should I stop my prednisone", "personal_advice")
    run(action, first, domain)
    _, texts, _ = run(action, tracker("can I take ibuprofen", "personal_advice", sender=first.sender_id),
                      domain)
    assert texts == ["I've added this to your open request, so the care team will see it too."]
    ticket = only_ticket(handoff, first.sender_id)
    assert (ticket.message_count, ticket.last_user_message) == (2, "can I take ibuprofen")


def test_out_of_hours_request_says_when_and_starts_the_contact_form(tmp_path, domain):
    handoff = make_handoff(tmp_path, clock=SATURDAY_NOON, STAFFED_HOURS="mon-fri 08:00-18:00",
                           STAFFED_TIMEZONE="Europe/London")
    current = tracker("I want to talk to a nurse", "request_human")
    events, texts, _ = run(ActionEscalateToHuman(handoff), current, domain)
    assert events == [FollowupAction("contact_form")]
    [text] = texts
    assert text.startswith("I've asked the care team to get in touch with you.")
    assert "Monday 7 December at 08:00 (Europe/London time)" in text
    assert "alert" not in text
    assert only_ticket(handoff, current.sender_id).reason == "request_human"


def test_out_of_hours_during_the_contact_form_does_not_restart_it(tmp_path, domain):
    handoff = make_handoff(tmp_path, STAFFED_HOURS="never")
    current = tracker("I want a nurse", "request_human", active_loop="contact_form")
    events, texts, _ = run(ActionEscalateToHuman(handoff), current, domain)
    assert events == []
    assert "no staffed hours are set" in texts[0]


def test_repeated_fallback_sends_the_misunderstood_messages(tmp_path, domain):
    handoff = make_handoff(tmp_path)
    earlier = [user_event("blorp zzzqx", "nlu_fallback"), {"event": "action", "name": "utter_ask_rephrase"},
               user_event("flibber jabber", "nlu_fallback"), {"event": "action", "name": "utter_offer_human"}]
    current = tracker("yes please", "affirm", earlier=earlier)
    _, texts, _ = run(ActionEscalateToHuman(handoff), current, domain)
    ticket = only_ticket(handoff, current.sender_id)
    assert (ticket.reason, ticket.first_message) == ("repeated_fallback", "blorp zzzqx\nflibber jabber")
    assert texts[0].startswith("I've passed your question to the care team.")


def test_a_bare_stop_is_never_a_question_for_the_care_team(tmp_path, domain):
    handoff = make_handoff(tmp_path)
    current = tracker("Stop!", "personal_advice")
    events, texts, responses = run(ActionEscalateToHuman(handoff), current, domain)
    assert (events, texts, responses) == ([], [], ["utter_anything_else"])
    assert only_ticket(handoff, current.sender_id) is None


def test_emergency_in_staffed_hours_is_urgent_says_call_now_and_claims_no_alert(tmp_path, domain):
    handoff = make_handoff(tmp_path)
    current = tracker("my son has chest pain", "emergency")
    events, texts, _ = run(ActionEscalateToHuman(handoff), current, domain)
    assert events == []  # no contact form, ever
    assert texts == [f"I've marked your request as urgent. A member of the care team will see it as soon "
                     f"as they can. Please don't wait for a reply here: call {EMERGENCY_NUMBER} now."]
    ticket = only_ticket(handoff, current.sender_id)
    assert (ticket.reason, ticket.priority) == ("emergency", "urgent")


def test_emergency_out_of_hours_says_urgent_next_staffed_time_and_call_now(tmp_path, domain):
    handoff = make_handoff(tmp_path, clock=SATURDAY_NOON, STAFFED_HOURS="mon-fri 08:00-18:00",
                           STAFFED_TIMEZONE="America/New_York")
    events, texts, _ = run(ActionEscalateToHuman(handoff), tracker("I can't breathe", "emergency"), domain)
    assert events == []
    assert texts == ["I've marked your request as urgent. The care team is not in right now; the next time "
                     "a person will see it is Monday 7 December at 08:00 (America/New_York time). Please "
                     f"don't wait for a reply here: call {EMERGENCY_NUMBER} now."]


def test_emergency_says_alerted_only_when_the_alert_was_accepted(tmp_path, domain):
    with webhook_receiver() as peer:
        handoff = make_handoff(tmp_path, STAFFED_HOURS="never", ALERT_WEBHOOK_URL=peer.url)
        current = tracker("she is coughing up blood", "emergency")
        _, texts, _ = run(ActionEscalateToHuman(handoff), current, domain)
    assert texts[0].startswith("I've marked your request as urgent and alerted the on-call team.")
    ticket = only_ticket(handoff, current.sender_id)
    assert [(p["kind"], p["ticket"]) for p in peer.received] == [("urgent_new", ticket.id)]


def test_a_refused_alert_is_not_called_an_alert(tmp_path, domain):
    with webhook_receiver(status=500) as peer:
        handoff = make_handoff(tmp_path, STAFFED_HOURS="never", ALERT_WEBHOOK_URL=peer.url,
                               ALERT_TIMEOUT_SECONDS="10")
        _, texts, _ = run(ActionEscalateToHuman(handoff), tracker("chest pain now", "emergency"), domain)
        assert peer.attempts >= 1
    assert "alert" not in texts[0]
    assert texts[0].startswith("I've marked your request as urgent.")


def test_emergency_during_the_contact_form_raises_the_ticket_alerts_and_ends_the_form(tmp_path, domain):
    with webhook_receiver() as peer:
        handoff = make_handoff(tmp_path, STAFFED_HOURS="never", ALERT_WEBHOOK_URL=peer.url)
        action = ActionEscalateToHuman(handoff)
        first = tracker("is my creatinine of 1.9 bad", "personal_advice")
        run(action, first, domain)
        current = tracker("he has collapsed", "emergency", sender=first.sender_id, active_loop="contact_form",
                          slots={"requested_slot": "contact_details"})
        events, texts, _ = run(action, current, domain)
    assert ActiveLoop(None) in events
    assert {"event": "slot", "name": "requested_slot", "value": None, "timestamp": None} in events
    assert not any(e.get("event") == "followup" for e in events)
    ticket = only_ticket(handoff, first.sender_id)
    assert (ticket.priority, ticket.message_count) == ("urgent", 2)
    assert texts[0].startswith("I've added this to your open request and marked it urgent and alerted")
    assert EMERGENCY_NUMBER in texts[0]
    assert [p["kind"] for p in peer.received] == ["urgent_raised"]


def test_database_down_queues_the_request_in_the_outbox(tmp_path, domain):
    handoff = make_handoff(tmp_path, schema=False, DATABASE_URL=DEAD_DATABASE)
    _, texts, _ = run(ActionEscalateToHuman(handoff), tracker("should I lower my dose", "personal_advice"),
                      domain)
    assert "your request is saved and will reach them automatically" in texts[0]
    assert len(handoff.outbox.pending()) == 1


def test_database_down_emergency_is_saved_urgent_and_says_call_now(tmp_path, domain):
    handoff = make_handoff(tmp_path, schema=False, DATABASE_URL=DEAD_DATABASE)
    events, texts, _ = run(ActionEscalateToHuman(handoff), tracker("chest pain", "emergency"), domain)
    assert events == []
    assert texts == ["I couldn't reach the care team's queue just now. Your request is saved and will reach "
                     f"them marked urgent, but please don't wait for a reply: call {EMERGENCY_NUMBER} now."]
    assert handoff.outbox.load(handoff.outbox.pending()[0]).reason == "emergency"


def test_database_and_outbox_both_failing_still_gives_the_emergency_line(tmp_path, domain):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    handoff = make_handoff(tmp_path, schema=False, DATABASE_URL=DEAD_DATABASE,
                           HANDOFF_OUTBOX_DIR=str(blocked / "outbox"))
    events, texts, _ = run(ActionEscalateToHuman(handoff), tracker("I need a nurse", "request_human"), domain)
    assert events == []
    assert texts == ["Sorry, I couldn't pass your question to the care team automatically. Please contact "
                     "your kidney care team directly. If someone is very unwell, call "
                     f"{EMERGENCY_NUMBER} now."]


def test_a_locked_database_does_not_stall_the_action_server(tmp_path, domain):
    """The store waits for SQLite's lock in a worker thread: other conversations keep being served."""
    handoff = make_handoff(tmp_path)
    holder = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    async def scenario():
        escalation = asyncio.create_task(ActionEscalateToHuman(handoff).run(
            CollectingDispatcher(), tracker("should I stop my tacrolimus", "personal_advice"), domain))
        ticks = 0
        while ticks < 20:  # the loop keeps turning while the action waits for the lock
            await asyncio.sleep(0.05)
            ticks += 1
        assert not escalation.done()
        holder.execute("COMMIT")
        return await asyncio.wait_for(escalation, 60)

    assert asyncio.run(scenario()) == []
    [ticket] = handoff.store.list_tickets()
    assert ticket.reason == "personal_advice"
