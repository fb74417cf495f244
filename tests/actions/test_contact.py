"""The out-of-hours contact form: what each answer does, validation, consent, saving, and the rules
that let questions and emergencies through."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.contact import (
    DECLINED,
    NOT_A_CONTACT,
    NOT_AN_ANSWER,
    QUESTION_INTENTS,
    STOP_ASKING,
    ActionAskContactConsent,
    ActionSaveContact,
    ValidateContactForm,
    is_exit_phrase,
    usable_contact,
)
from bot.handoff.store import EscalationRequest
from bot.settings import PROJECT_ROOT
from tests.actions.conftest import make_handoff, run, tracker

DEAD_DATABASE = "postgresql://postgres@127.0.0.1:1/test"


@pytest.mark.parametrize("text, region, expected", [
    ("+44 7911 123456", "GB", "+447911123456"),
    ("07911 123456", "GB", "+447911123456"),
    ("call me on 07911 123456 please", "GB", "+447911123456"),
    ("(415) 555-2671", "US", "+14155552671"),
    ("+1 415 555 2671", "GB", "+14155552671"),
    ("  Jo.Bloggs@Example.ORG ", "GB", "Jo.Bloggs@example.org"),
    ("my email is jo@example.org.", "GB", "jo@example.org"),
])
def test_phone_numbers_and_emails_are_accepted_normalised(text, region, expected):
    assert usable_contact(text, region) == expected


@pytest.mark.parametrize("text", ["555 12", "call me maybe", "jo@", "@example.org", "", "1" * 40,
                                  "(415) 555-2671", "jo@@example.org", "my creatinine is 180"])
def test_anything_else_is_refused(text):
    assert usable_contact(text, "GB") is None


@pytest.mark.parametrize("text", ["no", "Stop", "stop!", "cancel", "Never mind.", "nevermind", "forget it",
                                  "No thanks", "never  mind"])
def test_exit_phrases(text):
    assert is_exit_phrase(text)


@pytest.mark.parametrize("text", ["should I stop my prednisone", "stop taking tacrolimus?", "no urine today"])
def test_questions_are_not_exit_phrases(text):
    assert not is_exit_phrase(text)


def answer(text, intent, slot="contact_details", slots=None, **kwargs):
    """The tracker validate_contact_form sees when the form runs right after the user's answer."""
    return tracker(text, intent, active_loop="contact_form",
                   slots={"requested_slot": slot, **(slots or {})},
                   after=[{"event": "slot", "name": "requested_slot", "value": slot},
                          {"event": "action", "name": "contact_form"}], **kwargs)


def slot_values(events):
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


@pytest.fixture
def validate(tmp_path):
    return ValidateContactForm(make_handoff(tmp_path))


def test_a_phone_number_fills_the_slot_in_e164(validate, domain):
    events, texts, _ = run(validate, answer("it's 07911 123456", "out_of_scope"), domain)
    assert slot_values(events) == {"contact_details": "+447911123456"}
    assert texts == []


def test_the_default_region_is_a_setting(tmp_path, domain):
    validate = ValidateContactForm(make_handoff(tmp_path, PHONE_DEFAULT_REGION="US"))
    events, _, _ = run(validate, answer("(415) 555-2671", "nlu_fallback"), domain)
    assert slot_values(events) == {"contact_details": "+14155552671"}


@pytest.mark.parametrize("text, intent", [
    ("what are the side effects of tacrolimus?", "side_effects"),
    ("can I drink alcohol", "diet_lifestyle"),
    ("should I also lower my prednisone?", "personal_advice"),
    ("can I talk to a person", "request_human"),
    ("he can't breathe", "emergency"),
    ("are you a bot?", "bot_challenge"),
])
def test_a_question_or_an_emergency_fills_nothing_so_the_form_steps_aside(validate, domain, text, intent):
    assert run(validate, answer(text, intent), domain) == ([], [], [])


def test_a_contact_inside_an_emergency_is_still_the_emergency(validate, domain):
    assert run(validate, answer("call 07911 123456 he collapsed", "emergency"), domain) == ([], [], [])


@pytest.mark.parametrize("text, intent", [("no", "deny"), ("stop", "personal_advice"), ("cancel", "deny"),
                                          ("never mind", "out_of_scope"), ("bye", "goodbye")])
def test_no_stop_cancel_never_mind_leave_the_form(validate, domain, text, intent):
    events, texts, _ = run(validate, answer(text, intent), domain)
    assert slot_values(events) == {"contact_details": DECLINED, "contact_consent": False}
    assert texts == []


def test_an_unusable_answer_gets_one_clear_reask_then_the_form_ends(validate, domain):
    events, texts, _ = run(validate, answer("ok thanks", "thank"), domain)
    assert slot_values(events) == {"contact_details": None, "contact_reasks": 1.0}
    assert texts == [NOT_A_CONTACT]
    events, texts, _ = run(validate, answer("555 12", "personal_advice", slots={"contact_reasks": 1.0}),
                           domain)
    assert slot_values(events) == {"contact_details": DECLINED, "contact_consent": False}
    assert texts == [STOP_ASKING]


def test_the_escalated_message_itself_is_not_read_as_an_answer(validate, domain):
    """On activation the latest message is the question that started the form."""
    current = tracker("should I stop my tacrolimus", "personal_advice", active_loop="contact_form",
                      slots={"requested_slot": None},
                      after=[{"event": "action", "name": "action_escalate_to_human"},
                             {"event": "action", "name": "contact_form"}])
    assert run(validate, current, domain) == ([], [], [])


def test_after_an_answered_question_the_form_just_asks_again(validate, domain):
    current = tracker("what is fsgs", "fsgs_definition", active_loop="contact_form",
                      slots={"requested_slot": "contact_details"},
                      after=[{"event": "action", "name": "utter_fsgs_definition"},
                             {"event": "action", "name": "contact_form"}])
    assert run(validate, current, domain) == ([], [], [])


@pytest.mark.parametrize("text, intent, consent", [
    ("/affirm", "affirm", True), ("yes I agree", "affirm", True), ("/deny", "deny", False),
    ("stop", "personal_advice", False)])
def test_consent_is_a_yes_or_a_no(validate, domain, text, intent, consent):
    events, _, _ = run(validate, answer(text, intent, slot="contact_consent",
                                        slots={"contact_details": "+447911123456"}), domain)
    assert slot_values(events) == {"contact_consent": consent}


def test_consent_step_lets_questions_through_and_reasks_once(validate, domain):
    consent_slots = {"contact_details": "+447911123456"}
    assert run(validate, answer("what is fsgs?", "fsgs_definition", slot="contact_consent",
                                slots=consent_slots), domain) == ([], [], [])
    events, texts, _ = run(validate, answer("hmm", "nlu_fallback", slot="contact_consent",
                                            slots=consent_slots), domain)
    assert (slot_values(events), texts) == ({"contact_consent": None, "contact_reasks": 1.0}, [NOT_AN_ANSWER])
    events, texts, _ = run(validate, answer("hmm", "nlu_fallback", slot="contact_consent",
                                            slots={**consent_slots, "contact_reasks": 1.0}), domain)
    assert slot_values(events) == {"contact_details": DECLINED, "contact_consent": False}


def test_consent_question_names_the_detail(domain):
    current = tracker("07911 123456", "out_of_scope", slots={"contact_details": "+447911123456"})
    _, texts, _ = run(ActionAskContactConsent(), current, domain)
    assert texts == ["Do you agree that we store +447911123456 so the care team can reach you? "
                     "It is only used for this request."]


def open_ticket(handoff, sender):
    handoff.store.open_or_append(EscalationRequest(conversation_id=sender, channel="rest", sender_id=sender,
                                                   reason="personal_advice", message="my dose?"))


def test_save_with_consent_stores_the_normalised_detail_on_the_ticket(tmp_path, domain):
    handoff = make_handoff(tmp_path)
    current = tracker("/affirm", "affirm",
                      slots={"contact_details": "jo@example.org", "contact_consent": True})
    open_ticket(handoff, current.sender_id)
    events, texts, _ = run(ActionSaveContact(handoff), current, domain)
    ticket = handoff.store.open_ticket_for(current.sender_id)
    assert (ticket.contact_details, ticket.contact_consent) == ("jo@example.org", True)
    assert texts[0].startswith("Thank you. The care team will contact you at jo@example.org")
    assert slot_values(events) == {"contact_details": None, "contact_consent": None, "contact_reasks": None}


def test_save_without_consent_stores_nothing(tmp_path, domain):
    handoff = make_handoff(tmp_path)
    current = tracker("no", "deny", slots={"contact_details": DECLINED, "contact_consent": False})
    open_ticket(handoff, current.sender_id)
    _, texts, _ = run(ActionSaveContact(handoff), current, domain)
    assert handoff.store.open_ticket_for(current.sender_id).contact_details is None
    assert texts[0].startswith("Okay, I won't store any contact details.")


def test_save_while_the_database_is_down_goes_to_the_outbox(tmp_path, domain):
    handoff = make_handoff(tmp_path, schema=False, DATABASE_URL=DEAD_DATABASE)
    current = tracker("/affirm", "affirm",
                      slots={"contact_details": "+447911123456", "contact_consent": True})
    run(ActionSaveContact(handoff), current, domain)
    [queued] = [handoff.outbox.load(p) for p in handoff.outbox.pending()]
    assert (queued.contact_details, queued.contact_consent) == ("+447911123456", True)


def rules_of(path: Path):
    return yaml.safe_load(path.read_text())["rules"]


def first_intents(rule) -> set:
    first = rule["steps"][0]
    return {step["intent"] for step in first["or"]} if "or" in first else {first.get("intent")}


def test_every_intent_the_form_steps_aside_for_has_a_rule():
    """Answered (or appended) and back to the form; an emergency by the rule that applies anywhere."""
    in_form = {intent for rule in rules_of(PROJECT_ROOT / "stories" / "contact_form.yml")
               if rule.get("condition") == [{"active_loop": "contact_form"}]
               for intent in first_intents(rule)}
    anywhere = {intent for rule in rules_of(PROJECT_ROOT / "stories" / "escalation.yml")
                if "condition" not in rule for intent in first_intents(rule)}
    assert QUESTION_INTENTS - {"emergency"} <= in_form
    assert "emergency" in anywhere
