from bot.rasa_api import STAFF_METADATA_KEY, staff_event, transcript_from_events


def test_socketio_staff_messages_are_custom_payloads_the_widget_can_label():
    event = staff_event("Hello", "nurse@example.org", "socketio")
    assert event["data"] == {"custom": {"data": {"text": "Hello", "from_care_team": True,
                                                 "staff_name": "Care team"}}}
    assert "text" not in event  # socket.io would otherwise send the message twice


def test_other_channels_get_a_visible_care_team_prefix():
    event = staff_event("Hello", "nurse@example.org", "telegram")
    assert event["text"] == "Care team: Hello"
    assert event["metadata"] == {STAFF_METADATA_KEY: "nurse@example.org"}


def test_transcript_keeps_user_and_bot_lines_and_leaves_staff_lines_to_the_store():
    events = [
        {"event": "action", "name": "action_listen", "timestamp": 1},
        {"event": "user", "text": "what is fsgs", "timestamp": 2},
        {"event": "bot", "text": "FSGS is ...", "timestamp": 3},
        {"event": "bot", "data": {"buttons": [{"title": "Yes"}, {"title": "No"}]}, "timestamp": 4},
        {"event": "bot", "text": "Care team: hi", "metadata": {STAFF_METADATA_KEY: "n@x.org"},
         "timestamp": 5},
    ]
    lines = transcript_from_events(events)
    assert [(line.role, line.text) for line in lines] == [
        ("user", "what is fsgs"), ("bot", "FSGS is ..."), ("bot", "Yes | No")]
    assert lines[0].at.timestamp() == 2
