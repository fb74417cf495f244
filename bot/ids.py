"""Identifier formats shared by the channels and the web pages (no Rasa, no web framework here)."""
from __future__ import annotations

import re

# A website widget conversation: socket.io session id the server issued (uuid4().hex).
SESSION_ID = re.compile(r"[0-9a-f]{32}")
