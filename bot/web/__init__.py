"""The staff console (queue, conversations, unanswered questions) served by Sanic in its own process.

`python -m bot.web` starts it; `bot.web.app.create_app` builds it. Nothing here is imported by Rasa
or the action server, so the console can restart without touching conversations.
"""
