"""Content rules for every response in the domain/ folder, conditional variants included.

Curated answers must be sourced, short, plain and general; no response may personalise a dose or
repeat a fact that shared/fsgs-facts.md lists under "Corrections".
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import yaml

from bot.intents import INFORMATIONAL_INTENTS
from bot.nlp.pipeline import load_terms
from bot.settings import PROJECT_ROOT

DOMAIN_DIR = PROJECT_ROOT / "domain"
DRUG_SPECIFIC_INTENTS = ["side_effects", "immunosuppressants", "kidney_protection"]

DOSE_PERSONALISATION = [
    r"\byou should take\b", r"\byour (child's |son's |daughter's )?dose (is|should)\b",
    r"\b(increase|decrease|reduce|lower|raise|double) your\b", r"\bstop taking your\b",
    r"\b(take|give)\s+\d+(\.\d+)?\s*(mg|milligrams?)\b",
]
# Facts the original article got wrong (fsgs-facts.md, "Corrections"), checked per sentence.
CORRECTED_FACTS = {
    "cyclosporine 'twice a day' (it is per day, split in two)":
        lambda s: re.search(r"cyclosporin|ciclosporin|neoral", s, re.I)
        and re.search(r"twice (a|per|each) day|twice daily|\bbid\b", s, re.I),
    "steroid resistance after 6 months (adults: 16 weeks)":
        lambda s: re.search(r"resist", s, re.I) and re.search(r"\b(6|six) months\b", s, re.I),
    "'glomerulonephritis' (FSGS is a glomerulosclerosis)":
        lambda s: re.search(r"glomerulonephritis", s, re.I),
    "'uremia' (say kidney failure)": lambda s: re.search(r"\bura?emi(a|c)\b", s, re.I),
    "three categories of FSGS (KDIGO 2021 has four)":
        lambda s: re.search(r"\bthree (types|categories|kinds)\b", s, re.I),
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """Fails on duplicate mapping keys, which plain YAML loading silently overwrites."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}",
                                                    node.start_mark)
        return super().construct_mapping(node, deep)


@pytest.fixture(scope="module")
def responses() -> Dict[str, List[dict]]:
    """Every file's responses merged; a response defined in two files is an error."""
    merged: Dict[str, List[dict]] = {}
    for path in sorted(DOMAIN_DIR.rglob("*.yml")):
        part = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
        for name, variants in (part.get("responses") or {}).items():
            assert name not in merged, f"{name} is defined twice (second time in {path})"
            merged[name] = variants
    return merged


def _all_variants(responses) -> List[Tuple[str, str]]:
    return [(name, variant.get("text", "")) for name, variants in responses.items()
            for variant in variants]


def _curated_variants(responses) -> List[Tuple[str, dict]]:
    return [(f"utter_{intent}", variant) for intent in INFORMATIONAL_INTENTS
            for variant in responses.get(f"utter_{intent}", [])]


def _sentences(text: str) -> List[str]:
    return [s for s in re.split(r"(?<=[.!?:])\s+|\n", text) if s.strip()]


def _label(name: str, variant: dict) -> str:
    conditions = variant.get("condition") or []
    return name + "".join(f"[{c.get('value')}]" for c in conditions)


def test_every_informational_intent_has_one_curated_response(responses):
    missing = [i for i in INFORMATIONAL_INTENTS if not responses.get(f"utter_{i}")]
    assert missing == []


def test_every_informational_intent_has_exactly_one_rule():
    counts = {intent: 0 for intent in INFORMATIONAL_INTENTS}
    for path in Path(PROJECT_ROOT / "stories").glob("*.yml"):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8")).get("rules", []):
            steps = rule.get("steps", [])
            for step, following in zip(steps, steps[1:]):
                intent = step.get("intent")
                if intent in counts and following.get("action") == f"utter_{intent}":
                    counts[intent] += 1
    assert {i: n for i, n in counts.items() if n != 1} == {}


def test_curated_variants_end_with_a_source_line_and_an_offer(responses):
    problems = []
    for name, variant in _curated_variants(responses):
        lines = variant["text"].strip().splitlines()
        if not lines[-1].startswith("Source:"):
            problems.append(f"{_label(name, variant)}: last line is not 'Source: ...'")
        if not re.search(r"care team", lines[-2] if len(lines) > 1 else "", re.I):
            problems.append(f"{_label(name, variant)}: no offer to reach the care team")
    assert problems == []


def test_curated_variants_are_80_to_180_words(responses):
    lengths = {_label(name, v): len(v["text"].split()) for name, v in _curated_variants(responses)}
    assert {label: n for label, n in lengths.items() if not 80 <= n <= 180} == {}


def test_drug_specific_intents_have_medication_variants_and_a_default(responses):
    canonical_medications = set(load_terms()["medication"])
    for intent in DRUG_SPECIFIC_INTENTS:
        variants = responses[f"utter_{intent}"]
        defaults = [v for v in variants if not v.get("condition")]
        conditions = [c for v in variants for c in v.get("condition") or []]
        assert len(defaults) == 1, intent
        assert variants[-1] is defaults[0], f"{intent}: the default variant must come last"
        assert len(conditions) >= 3, intent
        for condition in conditions:
            assert condition["type"] == "slot" and condition["name"] == "medication", intent
            assert condition["value"] in canonical_medications, condition


def test_no_response_personalises_a_dose(responses):
    hits = [(name, pattern) for name, text in _all_variants(responses)
            for pattern in DOSE_PERSONALISATION if re.search(pattern, text, re.I)]
    assert hits == []


def test_no_response_repeats_a_corrected_fact(responses):
    hits = [(name, fact, sentence) for name, text in _all_variants(responses)
            for sentence in _sentences(text)
            for fact, matches in CORRECTED_FACTS.items() if matches(sentence)]
    assert hits == []


@pytest.mark.parametrize("sentence, fact", [
    ("Cyclosporine 4-5 mg/kg twice a day.", "cyclosporine"),
    ("You are steroid resistant after 6 months of prednisone.", "steroid resistance"),
    ("Focal Segmental Glomerulonephritis is a disease.", "glomerulonephritis"),
    ("Without treatment, uremia follows in 5-10 years.", "uremia"),
])
def test_corrected_fact_checks_catch_the_article_wording(sentence, fact):
    assert any(matches(sentence) for name, matches in CORRECTED_FACTS.items() if fact in name)


def test_a_disclaimer_exists(responses):
    """The session-start disclaimer: a domain response, or the text the session action sends."""
    if "utter_disclaimer" in responses:
        text = responses["utter_disclaimer"][0]["text"]
    else:
        from actions.session import DISCLAIMER as text
    assert re.search(r"not a doctor", text, re.I) and re.search(r"emergency", text, re.I)
