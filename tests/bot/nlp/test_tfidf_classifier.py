"""What the TF-IDF classifier reads: lemmas, with brand names and abbreviations unified."""
from __future__ import annotations

import pytest
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlp.pipeline import build_nlp
from bot.nlp.tfidf_classifier import normalised_words


@pytest.fixture(scope="module")
def nlp():
    return build_nlp()


def _message(nlp, text):
    message = Message(data={TEXT: text})
    message.set(SPACY_DOCS[TEXT], nlp(text))
    return message


def test_brand_names_and_abbreviations_read_as_the_same_drug(nlp):
    assert (normalised_words(_message(nlp, "Prograf side effects"))
            == normalised_words(_message(nlp, "tac side effects"))
            == "medication tacrolimus side effect")


def test_without_a_spacy_doc_the_text_is_lower_cased():
    assert normalised_words(Message(data={TEXT: "What Is FSGS"})) == "what is fsgs"
