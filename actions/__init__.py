"""Custom actions for the rasa-sdk action server: thin wrappers around `bot.handoff`."""
