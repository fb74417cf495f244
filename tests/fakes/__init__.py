"""Fake third-party servers on loopback (Telegram Bot API, Slack Web API) that record what they get."""
