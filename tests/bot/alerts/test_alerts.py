"""On-call alerts against a real SMTP server and a real HTTP receiver on loopback."""
from __future__ import annotations

import asyncio
import copy
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.alerts import AlertOutcome, alert_for_ticket, retry_pending_alerts
from bot.handoff.store import EscalationRequest, HandoffStore, TicketView
from bot.settings import Settings, load_settings
from tests.support.alert_peers import self_signed_certificate, smtp_server, webhook_receiver
from tests.support.stack import free_port

PATIENT_WORDS = "my daughter Zoe has crushing chest pain, call me on 07700 900123"


def settings_for(tmp_path: Path, **env: str) -> Settings:
    base: dict[str, str] = {"FSGS_VAR_DIR": str(tmp_path), "ALERT_EMAIL_TO": "oncall@clinic.test",
                            "ALERT_EMAIL_FROM": "bot@clinic.test", "ALERT_TIMEOUT_SECONDS": "3",
                            "ALERT_RETRY_SECONDS": "0", "CONSOLE_BASE_URL": "https://console.test/"}
    return load_settings({**base, **env})


def urgent_ticket(store: HandoffStore, conversation: str = "c-1") -> TicketView:
    return store.open_or_append(EscalationRequest(
        conversation_id=conversation, channel="socketio", sender_id=conversation, reason="emergency",
        message=PATIENT_WORDS, contact_details="07700 900123", contact_consent=True)).ticket


def alert(ticket, kind, store, settings) -> AlertOutcome:
    return asyncio.run(alert_for_ticket(ticket, kind, store=store, settings=settings))


def test_urgent_ticket_is_emailed_without_the_patients_words(store, tmp_path):
    with smtp_server() as smtp:
        settings = settings_for(tmp_path, SMTP_URL=f"smtp://127.0.0.1:{smtp.port}")
        ticket = urgent_ticket(store)
        outcome = alert(ticket, "urgent_new", store, settings)
        assert outcome == AlertOutcome(configured=True, accepted=True)
        assert len(smtp.messages) == 1
        mail = smtp.messages[0]
        assert mail["To"] == "oncall@clinic.test" and mail["From"] == "bot@clinic.test"
        assert f"#{ticket.id}" in mail["Subject"] and "urgent" in mail["Subject"].lower()
        body = mail.get_payload(decode=True).decode()
        assert f"https://console.test/console/tickets/{ticket.id}" in body
        assert "Priority: urgent" in body and "Channel:  socketio" in body
        # Every header but the Message-ID (random digits: "...3120770095..." once held "07700"),
        # as sent (encoded) and the decoded body.
        sent = copy.deepcopy(mail)
        del sent["Message-ID"]
        for word in ("Zoe", "chest", "07700", "daughter"):
            assert word not in sent.as_string() and word not in body
    [record] = store.alerts_for(ticket.id)
    assert (record.destination, record.status, record.attempts, record.target) == \
        ("email", "sent", 1, "oncall@clinic.test")


def test_webhook_gets_the_json_and_never_the_secret_path_in_the_console(store, tmp_path):
    with webhook_receiver() as hook:
        settings = settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url)
        ticket = urgent_ticket(store)
        assert alert(ticket, "urgent_raised", store, settings).accepted
        [payload] = hook.received
    assert payload["ticket"] == ticket.id and payload["kind"] == "urgent_raised"
    assert (payload["priority"], payload["reason"], payload["channel"]) == ("urgent", "emergency", "socketio")
    assert payload["url"] == f"https://console.test/console/tickets/{ticket.id}"
    assert "Ticket raised to urgent" in payload["text"]
    assert "chest" not in str(payload) and "07700" not in str(payload)
    [record] = store.alerts_for(ticket.id)
    assert record.status == "sent" and "secret-token" not in record.target


def test_same_alert_twice_is_sent_once(store, tmp_path):
    with webhook_receiver() as hook:
        settings = settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url)
        ticket = urgent_ticket(store)
        assert alert(ticket, "urgent_new", store, settings).accepted
        assert alert(ticket, "urgent_new", store, settings).accepted
        assert hook.attempts == 1 and len(store.alerts_for(ticket.id)) == 1


def test_failing_destination_is_recorded_and_retried_later(store, tmp_path):
    with webhook_receiver(status=503) as hook, smtp_server() as smtp:
        settings = settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url,
                                SMTP_URL=f"smtp://127.0.0.1:{smtp.port}")
        ticket = urgent_ticket(store)
        assert alert(ticket, "urgent_new", store, settings) == AlertOutcome(True, True)  # e-mail worked
        webhook = next(a for a in store.alerts_for(ticket.id) if a.destination == "webhook")
        assert (webhook.status, webhook.attempts, webhook.last_error) == ("pending", 1,
                                                                          "WebhookRejected: HTTP 503")
        assert asyncio.run(retry_pending_alerts(store, settings)) == 0     # still failing
        hook.status = 200
        assert asyncio.run(retry_pending_alerts(store, settings)) == 1
        assert hook.received[0]["ticket"] == ticket.id
        assert len(smtp.messages) == 1                     # the sent e-mail is not retried
    records = {a.destination: a for a in store.alerts_for(ticket.id)}
    assert (records["webhook"].status, records["webhook"].attempts) == ("sent", 3)
    assert (records["email"].status, records["email"].attempts) == ("sent", 1)


def test_unreachable_smtp_gives_up_after_max_attempts(store, tmp_path):
    settings = settings_for(tmp_path, SMTP_URL=f"smtp://127.0.0.1:{free_port()}", ALERT_MAX_ATTEMPTS="2")
    ticket = urgent_ticket(store)
    assert alert(ticket, "urgent_new", store, settings) == AlertOutcome(configured=True, accepted=False)
    assert asyncio.run(retry_pending_alerts(store, settings)) == 0
    [record] = store.alerts_for(ticket.id)
    assert (record.status, record.attempts) == ("failed", 2)
    assert "Connect" in record.last_error or "connect" in record.last_error
    assert asyncio.run(retry_pending_alerts(store, settings)) == 0      # failed is final


def test_retry_waits_for_its_back_off(store, tmp_path):
    with webhook_receiver(status=500) as hook:
        settings = settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url, ALERT_RETRY_SECONDS="3600")
        ticket = urgent_ticket(store)
        alert(ticket, "urgent_new", store, settings)
        hook.status = 200
        assert asyncio.run(retry_pending_alerts(store, settings)) == 0 and hook.received == []
        [record] = store.alerts_for(ticket.id)
        assert record.status == "pending" and record.next_attempt_at > record.last_attempt_at


def test_alerts_of_a_resolved_ticket_are_cancelled_not_sent(store, tmp_path):
    with webhook_receiver(status=500) as hook:
        settings = settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url)
        ticket = urgent_ticket(store)
        alert(ticket, "urgent_new", store, settings)
        store.resolve(ticket.id, "nurse@clinic.test")
        hook.status = 200
        assert asyncio.run(retry_pending_alerts(store, settings)) == 0
        assert hook.received == [] and store.alerts_for(ticket.id)[0].status == "cancelled"


def test_a_hung_receiver_never_holds_the_caller(store, tmp_path):
    with webhook_receiver() as hook:
        hook.delay = 60
        settings = settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url, ALERT_TIMEOUT_SECONDS="1")
        ticket = urgent_ticket(store)
        started = time.monotonic()
        assert alert(ticket, "urgent_new", store, settings) == AlertOutcome(True, False)
        assert time.monotonic() - started < 20
        assert "within 1 s" in store.alerts_for(ticket.id)[0].last_error


def test_nothing_configured_or_out_of_hours_switched_off(store, tmp_path):
    ticket = urgent_ticket(store)
    assert alert(ticket, "urgent_new", store, load_settings({"FSGS_VAR_DIR": str(tmp_path)})) == \
        AlertOutcome(configured=False, accepted=False)
    with webhook_receiver() as hook:
        settings = settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url)
        assert not alert(ticket, "out_of_hours_new", store, settings).configured
        on = settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url, ALERT_OUT_OF_HOURS="1")
        assert alert(ticket, "out_of_hours_new", store, on).accepted
        assert [p["kind"] for p in hook.received] == ["out_of_hours_new"]
    with pytest.raises(ValueError, match="unknown alert kind"):
        alert(ticket, "whenever", store, settings)


def test_database_down_still_sends_the_alert(tmp_path, dead_database_url):
    dead = HandoffStore.from_url(dead_database_url)
    now = datetime.now(timezone.utc)
    ticket = TicketView(id=7, conversation_id="c", channel="rest", sender_id="c", reason="emergency",
                        priority="urgent", status="open", first_message=PATIENT_WORDS,
                        last_user_message=PATIENT_WORDS, message_count=1, contact_details=None,
                        contact_consent=None, assigned_to=None, created_at=now, updated_at=now,
                        claimed_at=None, resolved_at=None)
    with webhook_receiver() as hook:
        settings = settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url)
        assert alert(ticket, "urgent_new", dead, settings) == AlertOutcome(True, True)
        assert hook.received[0]["ticket"] == 7


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_tls_and_login(store, tmp_path, mode):
    certificate = self_signed_certificate(tmp_path)
    with smtp_server(tls=mode, certificate=certificate, login=("alerts", "s3cret/pass")) as smtp:
        scheme = "smtp+starttls" if mode == "starttls" else "smtps"
        settings = settings_for(tmp_path, SMTP_URL=f"{scheme}://alerts:s3cret%2Fpass@127.0.0.1:{smtp.port}",
                                SMTP_CA_FILE=str(certificate[0]))
        ticket = urgent_ticket(store)
        assert alert(ticket, "urgent_new", store, settings).accepted
        assert smtp.logins == ["alerts"] and len(smtp.messages) == 1


def test_tls_certificate_is_verified(store, tmp_path):
    certificate = self_signed_certificate(tmp_path)
    with smtp_server(tls="starttls", certificate=certificate) as smtp:
        settings = settings_for(tmp_path, SMTP_URL=f"smtp+starttls://127.0.0.1:{smtp.port}")  # no CA
        ticket = urgent_ticket(store)
        assert not alert(ticket, "urgent_new", store, settings).accepted
        assert smtp.messages == []
        assert "CERTIFICATE_VERIFY_FAILED" in store.alerts_for(ticket.id)[0].last_error


def test_erasing_a_conversation_erases_its_alert_records(store, tmp_path):
    with webhook_receiver() as hook:
        ticket = urgent_ticket(store, "erase-me")
        alert(ticket, "urgent_new", store, settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url))
    assert store.delete_conversation("erase-me") == 1
    assert store.alerts_for(ticket.id) == []


def test_retry_job_alerts_urgent_tickets_that_never_were(store, tmp_path):
    """An emergency replayed from the outbox (or raised by a path that did not alert) is paged
    about by the periodic job, once, with the right kind."""
    new = urgent_ticket(store, "replayed")
    raised = store.open_or_append(EscalationRequest(
        conversation_id="raised", channel="rest", sender_id="raised", reason="request_human",
        message="a person please")).ticket
    store.open_or_append(EscalationRequest(conversation_id="raised", channel="rest", sender_id="raised",
                                           reason="emergency", message="I can't breathe"))
    store.open_or_append(EscalationRequest(conversation_id="calm", channel="rest", sender_id="calm",
                                           reason="personal_advice", message="my dose?"))
    with webhook_receiver() as hook:
        settings = settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url)
        asyncio.run(retry_pending_alerts(store, settings))
        asyncio.run(retry_pending_alerts(store, settings))
        assert sorted((p["ticket"], p["kind"]) for p in hook.received) == \
            [(new.id, "urgent_new"), (raised.id, "urgent_raised")]


def test_two_processes_recording_the_same_alert_send_it_once(database_url, tmp_path):
    """Separate stores (engines) as in separate processes, racing on the same ticket and kind."""
    stores = [HandoffStore.from_url(database_url) for _ in range(4)]
    stores[0].create_schema()
    ticket = urgent_ticket(stores[0])
    with webhook_receiver() as hook:
        settings = settings_for(tmp_path, ALERT_WEBHOOK_URL=hook.url)

        async def race():
            return await asyncio.gather(*(alert_for_ticket(ticket, "urgent_new", store=s, settings=settings)
                                          for s in stores))
        outcomes = asyncio.run(race())
        assert hook.attempts == 1 and all(o.configured for o in outcomes)
    assert len(stores[0].alerts_for(ticket.id)) == 1
    for s in stores:
        s.dispose()
