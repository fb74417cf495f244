"""The credentials file Rasa gets: Telegram and Slack only when their variables are set."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from rasa.shared.utils.io import read_config_file

from bot.channels.credentials import effective_credentials, write_effective_credentials
from bot.settings import PROJECT_ROOT, load_settings

CREDENTIALS = PROJECT_ROOT / "credentials.yml"
TELEGRAM = "bot.channels.telegram.TelegramInput"
SLACK = "bot.channels.slack.SlackInput"
SOCKETIO = "bot.channels.socketio.SocketIOInput"
TELEGRAM_VARIABLES = {"TELEGRAM_TOKEN": "123456:ABCdef", "TELEGRAM_BOT_USERNAME": "@fsgs_bot",
                      "TELEGRAM_WEBHOOK_SECRET": "s3cret-token"}
SLACK_VARIABLES = {"SLACK_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "signing"}


def settings(tmp_path: Path, **variables: str):
    return load_settings({"FSGS_VAR_DIR": str(tmp_path), "RASA_AUTH_TOKEN": "t",
                          "WEB_SECRET_KEY": "k", **variables})


def test_without_channel_variables_only_rest_and_socketio_are_kept(tmp_path):
    kept, left_out = effective_credentials(settings(tmp_path), CREDENTIALS)
    assert set(kept) == {"bot.channels.rest.RestInput", SOCKETIO}
    assert left_out[TELEGRAM] == ["TELEGRAM_TOKEN", "TELEGRAM_BOT_USERNAME", "TELEGRAM_WEBHOOK_SECRET"]
    assert left_out[SLACK] == ["SLACK_TOKEN", "SLACK_SIGNING_SECRET"]


def test_a_channel_missing_one_variable_stays_off(tmp_path):
    partial = {k: v for k, v in TELEGRAM_VARIABLES.items() if k != "TELEGRAM_WEBHOOK_SECRET"}
    kept, left_out = effective_credentials(settings(tmp_path, **partial), CREDENTIALS)
    assert TELEGRAM not in kept
    assert left_out[TELEGRAM] == ["TELEGRAM_WEBHOOK_SECRET"]


def test_written_file_keeps_placeholders_and_rasa_fills_them_from_the_settings(tmp_path, monkeypatch):
    s = settings(tmp_path, **TELEGRAM_VARIABLES, **SLACK_VARIABLES,
                 SLACK_API_BASE="http://127.0.0.1:9/api/")
    path = write_effective_credentials(s, CREDENTIALS)
    assert path.parent == tmp_path
    assert "s3cret-token" not in path.read_text()  # no secret on disk
    assert set(yaml.safe_load(path.read_text())) == {
        "bot.channels.rest.RestInput", SOCKETIO, TELEGRAM, SLACK}

    for name, value in s.rasa_environment().items():  # what the launcher gives the Rasa process
        monkeypatch.setitem(os.environ, name, value)
    loaded = read_config_file(str(path))
    assert loaded[TELEGRAM] == {"access_token": "123456:ABCdef", "verify": "fsgs_bot",
                                "webhook_secret": "s3cret-token",
                                "api_base": "https://api.telegram.org"}
    assert loaded[SLACK]["slack_api_base"] == "http://127.0.0.1:9/api/"
    assert loaded[SLACK]["slack_signing_secret"] == "signing"


def test_a_variable_the_settings_do_not_know_is_an_error(tmp_path):
    source = tmp_path / "credentials.yml"
    source.write_text('bot.channels.slack.SlackInput:\n  slack_token: "${SLAK_TOKEN}"\n')
    with pytest.raises(ValueError, match="SLAK_TOKEN"):
        effective_credentials(settings(tmp_path), source)


def test_the_connectors_load_from_the_effective_credentials(tmp_path, monkeypatch):
    from rasa.core.run import create_http_input_channels

    s = settings(tmp_path, **TELEGRAM_VARIABLES, **SLACK_VARIABLES)
    for name, value in s.rasa_environment().items():
        monkeypatch.setitem(os.environ, name, value)
    channels = create_http_input_channels(None, str(write_effective_credentials(s, CREDENTIALS)))
    assert sorted(c.name() for c in channels) == ["rest", "slack", "socketio", "telegram"]
