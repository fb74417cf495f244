"""The emergency number comes from the one setting into every text that names it."""
from __future__ import annotations

import asyncio
import re

import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from bot.nlg import EmergencyNumberNLG
from bot.rasa_actions import disclaimer_text
from bot.settings import PROJECT_ROOT, load_settings
from tests.actions.conftest import EMERGENCY_NUMBER

HARD_CODED_NUMBER = re.compile(r"\b(911|999|112)\b")


def test_session_disclaimer_names_the_configured_emergency_number(tmp_path):
    settings = load_settings({"FSGS_VAR_DIR": str(tmp_path), "EMERGENCY_NUMBER": EMERGENCY_NUMBER,
                              "RASA_AUTH_TOKEN": "t", "WEB_SECRET_KEY": "k"})
    assert disclaimer_text(settings).endswith(
        f"If someone is very unwell right now, call {EMERGENCY_NUMBER}.")


def test_the_rasa_server_fills_utter_emergency_from_the_setting():
    domain = Domain.load(str(PROJECT_ROOT / "domain"))
    nlg = EmergencyNumberNLG(domain=domain, emergency_number=EMERGENCY_NUMBER)
    message = asyncio.run(nlg.generate("utter_emergency", DialogueStateTracker("u", domain.slots), "rest"))
    assert f"call {EMERGENCY_NUMBER} or go to the nearest emergency department" in message["text"]
    assert "{" not in message["text"]


def test_endpoints_use_the_emergency_number_nlg():
    from rasa.core.nlg.generator import NaturalLanguageGenerator
    from rasa.utils.endpoints import EndpointConfig

    config = EndpointConfig.from_dict(yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text())["nlg"])
    assert isinstance(NaturalLanguageGenerator.create(config, Domain.empty()), EmergencyNumberNLG)


def test_no_text_hard_codes_an_emergency_number():
    sources = [*(PROJECT_ROOT / "domain").rglob("*.yml"), *(PROJECT_ROOT / "actions").glob("*.py")]
    offenders = [str(p) for p in sources if HARD_CODED_NUMBER.search(p.read_text())]
    assert offenders == []
