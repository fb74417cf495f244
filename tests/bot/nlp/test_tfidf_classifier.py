"""What the TF-IDF classifier reads: lemmas, with brand names and abbreviations unified; and when
it knows none of a message's words."""
from __future__ import annotations

import pytest
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlp.pipeline import build_nlp
from bot.nlp.sklearn_component import normalised_words
from bot.nlp.tfidf_classifier import knows_a_word


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


VOCABULARY = {"side": 0, "effect": 1, "no": 2, "medication tacrolimus": 3, "medication": 4,
              "hi": 5, "thank": 6, "you": 7, "please": 8, "good": 9}


@pytest.mark.parametrize("words, known", [
    ("medication tacrolimus side effect", True),
    ("no", True),                          # only function words: they count
    ("the flibber of quux ?", False),       # function words beside unknown ones do not
    ("flibber jabber quux", False),
    ("12345 !!!", False),                  # nothing alphabetic
    ("", False),
    ("hiii", True),                        # stretched letters
    ("pleeease", True),
    ("gooood", True),
    ("thankyou", True),                    # two known words run together
    ("sideeffect", True),
    ("thankflibber", False),               # one known half is not enough
    ("hiyo", False),
])
def test_a_message_is_known_by_its_content_words(words, known):
    assert knows_a_word(words, VOCABULARY) is known
