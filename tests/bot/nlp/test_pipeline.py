"""The spaCy pipeline built from terms.yml: every term becomes an entity with its canonical id."""
from __future__ import annotations

import pytest

from bot.nlp.pipeline import EXACT_MARK, build_nlp, load_terms


@pytest.fixture(scope="module")
def nlp():
    return build_nlp()


def _entities(nlp, text):
    return {(ent.label_, ent.ent_id_) for ent in nlp(text).ents}


def test_every_term_is_recognised_with_its_canonical_id(nlp):
    missed = [(label, canonical, phrase)
              for label, entries in load_terms().items()
              for canonical, phrases in entries.items()
              for phrase in phrases
              if (label, canonical) not in _entities(nlp, str(phrase).removeprefix(EXACT_MARK))]
    assert missed == []


@pytest.mark.parametrize("text, label, canonical", [
    ("Is CsA the same as Neoral?", "medication", "cyclosporine"),
    ("my son is on tac", "medication", "tacrolimus"),
    ("Prograf side effects", "medication", "tacrolimus"),
    ("how long on pred", "medication", "prednisone"),
    ("what does MMF do", "medication", "mycophenolate"),
    ("can I take Nurofen", "medication", "nsaid"),
    ("is Filspari approved", "medication", "sparsentan"),
    ("Forxiga for kidneys", "medication", "sglt2_inhibitor"),
    ("ankle oedema", "symptom", "swelling"),
    ("ankle edema", "symptom", "swelling"),
    ("haematuria and hematuria", "symptom", "blood_in_urine"),
    ("his UPCR was high", "lab_test", "upcr"),
])
def test_terms_map_to_canonical_ids(nlp, text, label, canonical):
    assert (label, canonical) in _entities(nlp, text)


@pytest.mark.parametrize("text, canonical", [
    ("he coughed up blood last night", "lung_clot"),
    ("she coughs up blood", "lung_clot"),
    ("my son fainted", "fainting"),
    ("my wife has been struggling for breath", "lung_clot"),
    ("my daughter hasn't peed since the morning", "no_urine"),
    ("I'm having chest pains", "lung_clot"),
    ("she had seizures", "hypertensive_emergency"),
    ("my daughter had a fit this morning", "hypertensive_emergency"),
    ("he's fitting right now", "hypertensive_emergency"),
    ("she was fitting for five minutes", "hypertensive_emergency"),
    ("he has fits since the new medicine", "hypertensive_emergency"),
    # Hinglish, as parents write it
    ("meri beti ko saans lene me taklif ho rahi hai", "lung_clot"),
    ("papa ke seene mein dard ho raha hai", "lung_clot"),
    ("bhai behosh ho gaya", "fainting"),
    ("bete ka subah se peshab nahi hua", "no_urine"),
])
def test_red_flags_match_on_lemmas(nlp, text, canonical):
    assert ("red_flag", canonical) in _entities(nlp, text)


def test_ordinary_words_are_not_entities(nlp):
    assert _entities(nlp, "what is the best way to cook pasta") == set()


@pytest.mark.parametrize("text", [
    "what if my son doesn't respond to steroids",  # lemma "not respond" must not mean unresponsive
    "his eyes are puffy in the morning",
    "how much salt can my daughter eat",
    "she is tired after school",
    "how can my son keep fit with fsgs",          # lemma "fit" is not a seizure
    "his shoes don't fit because of the swelling",
    "his clothes are not fitting any more",
])
def test_non_urgent_messages_have_no_red_flag(nlp, text):
    assert not any(label == "red_flag" for label, _ in _entities(nlp, text))
