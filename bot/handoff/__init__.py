"""The human handoff queue: tickets, their audit trail, staff replies and an offline outbox.

Knows nothing of Rasa; the actions server, the web console and `fsgs-bot handoff` use it.
"""
