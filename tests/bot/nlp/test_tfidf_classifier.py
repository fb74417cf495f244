"""What the TF-IDF classifier reads: lemmas, with brand names and abbreviations unified; when it
knows none of a message's words; and how its finer sub-answer model re-ranks topics."""
from __future__ import annotations

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.pipeline import build_nlp
from bot.nlp.sklearn_component import normalised_words
from bot.nlp.subanswers import SECOND_OPINION_KEY, SUB_ANSWER
from bot.nlp.tfidf_classifier import TfidfIntentClassifier, knows_a_word, rerank_topics


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


# --- topic re-ranking by the finer sub-answer model -------------------------------------------

CLASSES = ["fsgs_definition", "personal_advice", "side_effects"]


def test_rerank_averages_the_topics_split_and_keeps_their_total():
    reranked = rerank_topics(np.array([[0.5, 0.2, 0.3]]), CLASSES, np.array([[0.0, 0.2, 0.8]]), 0.5)
    # The topics' 0.8 is split half by the main model (0.625 / 0.375), half by the finer (0 / 1).
    assert reranked[0] == pytest.approx([0.8 * 0.3125, 0.2, 0.8 * 0.6875])


@pytest.mark.parametrize("row", [[0.3, 0.5, 0.2], [0.0, 0.0, 0.0]])
def test_rerank_leaves_a_row_alone_unless_a_topic_leads_it(row):
    """An escalation (or no confidence at all) must stay exactly what the main model said."""
    assert rerank_topics(np.array([row]), CLASSES, np.array([[0.0, 0.0, 1.0]]), 0.5)[0] == (
        pytest.approx(row))


def _example(text: str, intent: str, centre: int, sub_answer: str | None = None,
             rng: np.random.Generator | None = None) -> Message:
    message = Message.build(text, intent,
                            example_metadata={SUB_ANSWER: sub_answer} if sub_answer else None)
    noise = rng.normal(0, 0.05, 6) if rng is not None else np.zeros(6)
    message.add_features(Features((np.eye(6)[centre] + noise).reshape(1, -1), "sentence", TEXT,
                                  "dense_featurizer"))
    return message


def _trained(tmp_path, **config) -> TfidfIntentClassifier:
    rng = np.random.default_rng(0)
    examples = ([_example(f"flu jab {i}", "side_effects", 0, "side_effects.flu_vaccine", rng)
                 for i in range(6)]
                + [_example(f"side effects {i}", "side_effects", 1, None, rng) for i in range(6)]
                + [_example(f"what is fsgs {i}", "fsgs_definition", 2, None, rng) for i in range(6)]
                + [_example(f"my dose {i}", "personal_advice", 3, None, rng) for i in range(6)])
    storage, resource = LocalModelStorage(tmp_path), Resource("intent_classifier")
    context = ExecutionContext(GraphSchema({}), "test-model")
    merged = {**TfidfIntentClassifier.get_default_config(), **config}
    TfidfIntentClassifier.create(merged, storage, resource, context).train(TrainingData(examples))
    return TfidfIntentClassifier.load(merged, storage, resource, context)


def test_the_finer_model_learns_sub_answers_as_classes_and_survives_a_save(tmp_path):
    classifier = _trained(tmp_path)
    finer = classifier._model["finer"]
    assert set(finer.classes_) == {"side_effects.flu_vaccine", "side_effects", "fsgs_definition",
                                   "personal_advice"}
    messages = [_example("flu jab 1", "side_effects", 0), Message(data={TEXT: "flu jab"})]
    classifier.process(messages)   # the second has no dense features: read as zeros, no error
    assert messages[0].get("intent")["name"] == "side_effects"
    ranking = messages[0].get("intent_ranking")
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)
    assert messages[1].get("intent")["name"] in CLASSES


def test_the_finer_models_best_class_is_left_for_the_sub_answer_gate(tmp_path):
    messages = [_example("flu jab 1", "side_effects", 0), _example("what is fsgs 1", "fsgs_definition", 2)]
    _trained(tmp_path).process(messages)
    assert [m.get(SECOND_OPINION_KEY) for m in messages] == ["side_effects.flu_vaccine",
                                                             "fsgs_definition"]


def test_no_finer_model_when_re_ranking_is_off(tmp_path):
    classifier = _trained(tmp_path, topic_rerank_weight=0.0)
    assert classifier._model["finer"] is None
    message = _example("flu jab 1", "side_effects", 0)
    classifier.process([message])
    assert message.get(SECOND_OPINION_KEY) is None
