"""The sub-answer gate and selector: units on small data, then the trained model on the held-out
questions with the issue-11 targets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.intents import ESCALATION_INTENTS, FALLBACK_INTENT
from bot.nlp.subanswer_scoring import (
    CANONICAL_ACCURACY_FLOOR,
    CANONICAL_QUESTIONS_DIR,
    ENFORCED_ACCURACY_FLOOR,
    TARGETS,
    Question,
    load_questions,
    score,
)
from bot.nlp.subanswers import (
    GENERAL,
    NEVER,
    SUB_ANSWER,
    SubAnswerSelector,
    choose_threshold,
    example_sub_answer,
    gate,
    same_question_groups,
)

RANKING = (["", "side_effects.flu_vaccine", "side_effects.growth"], np.array([0.1, 0.8, 0.1]))


# --- the gate --------------------------------------------------------------------------------

def test_gate_gives_the_sub_answer_at_or_above_the_threshold():
    assert gate("side_effects", RANKING, 0.8).sub_answer == "side_effects.flu_vaccine"


def test_gate_needs_the_intent_as_sure_as_the_sub_answer():
    assert gate("side_effects", RANKING, 0.6, intent_confidence=0.59).sub_answer is None
    assert gate("side_effects", RANKING, 0.6, intent_confidence=0.6).sub_answer == "side_effects.flu_vaccine"


def test_gate_does_not_multiply_two_sure_confidences():
    # 0.8 x 0.8 = 0.64 is under 0.65, yet each classifier is sure.
    outcome = gate("side_effects", RANKING, 0.65, intent_confidence=0.8)
    assert outcome.sub_answer == "side_effects.flu_vaccine" and outcome.confidence == pytest.approx(0.8)


def test_gate_gives_nothing_below_the_threshold():
    outcome = gate("side_effects", RANKING, 0.81)
    assert outcome.candidate == "side_effects.flu_vaccine" and outcome.sub_answer is None


@pytest.mark.parametrize("intent", [*ESCALATION_INTENTS, FALLBACK_INTENT, "greet", None])
def test_gate_never_gives_a_sub_answer_outside_informational_topics(intent):
    assert gate(intent, RANKING, 0.0) is None


def test_gate_never_gives_another_topics_sub_answer():
    other = (["", "immunosuppressants.tacrolimus_brand"], np.array([0.01, 0.99]))
    assert gate("side_effects", other, 0.0).sub_answer is None


def test_gate_gives_nothing_when_general_is_the_best_class():
    general = (["", "side_effects.flu_vaccine"], np.array([0.6, 0.4]))
    assert gate("side_effects", general, 0.0).sub_answer is None


def test_a_second_opinion_naming_the_same_sub_answer_lowers_only_the_intent_floor():
    agreed = gate("side_effects", RANKING, 0.65, 0.56, second_opinion="side_effects.flu_vaccine",
                  agreement_floor=0.55)
    assert agreed.sub_answer == "side_effects.flu_vaccine" and agreed.intent_floor == 0.55
    # The topic classifier's own probability must still reach the threshold.
    assert gate("side_effects", RANKING, 0.81, 0.9, second_opinion="side_effects.flu_vaccine",
                agreement_floor=0.55).sub_answer is None
    assert gate("side_effects", RANKING, 0.65, 0.54, second_opinion="side_effects.flu_vaccine",
                agreement_floor=0.55).sub_answer is None


@pytest.mark.parametrize("second_opinion, agreement_floor", [
    ("side_effects.growth", 0.55),        # the second model names another sub-answer
    ("side_effects", 0.55),               # or only the topic
    ("side_effects.flu_vaccine", None),   # no floor configured
    ("side_effects.flu_vaccine", 0.9),    # a floor above the threshold never raises it
])
def test_without_agreement_the_intent_needs_the_threshold(second_opinion, agreement_floor):
    outcome = gate("side_effects", RANKING, 0.65, 0.6, second_opinion=second_opinion,
                   agreement_floor=agreement_floor)
    assert outcome.sub_answer is None and outcome.intent_floor == 0.65
    assert gate("side_effects", RANKING, 0.65, 0.7, second_opinion=second_opinion,
                agreement_floor=agreement_floor).sub_answer == "side_effects.flu_vaccine"


SAME_FLU = same_question_groups([["side_effects.flu_vaccine", "complications.flu_vaccine"]])


def test_same_question_groups_are_symmetric_and_closed():
    groups = same_question_groups([["a.x", "b.x"], ["b.x", "c.x"], ["d.y", "e.y"]])
    assert groups["a.x"] == {"b.x", "c.x"} and groups["c.x"] == {"a.x", "b.x"}
    assert groups["e.y"] == {"d.y"} and "f.z" not in groups


def test_gate_counts_another_topic_sure_of_the_same_answer():
    # Split 0.5 / 0.45 between two topics that both answer the question the same way.
    agreeing = [(0.45, "complications.flu_vaccine", 0.9)]
    outcome = gate("side_effects", RANKING, 0.65, 0.5, agreeing, SAME_FLU)
    assert outcome.sub_answer == "side_effects.flu_vaccine" and outcome.confidence == pytest.approx(0.8)


@pytest.mark.parametrize("other_topics, same_question", [
    ([(0.45, "complications.flu_vaccine", 0.9)], None),          # not declared the same question
    ([(0.45, "complications.other_thing", 0.9)], SAME_FLU),      # the other topic's answer differs
    ([(0.45, "complications.flu_vaccine", 0.6)], SAME_FLU),      # the other topic is not sure of it
])
def test_gate_ignores_other_topics_unless_sure_of_the_same_answer(other_topics, same_question):
    assert gate("side_effects", RANKING, 0.65, 0.5, other_topics, same_question).sub_answer is None


def test_scoring_counts_the_other_topics_same_question_answer_as_right_unless_strict():
    question = Question("do colds set off relapses", "proteinuria_nephrotic",
                        "proteinuria_nephrotic.relapse_with_colds")
    parsed = {"intent": {"name": "steroid_therapy"},
              "entities": [{"entity": SUB_ANSWER, "value": "steroid_therapy.colds"}]}
    lenient, strict = (score([question], lambda _: parsed, strict=s) for s in (False, True))
    assert (lenient.accuracy, lenient.wrong_rate) == (1.0, 0.0)
    assert (strict.accuracy, strict.wrong_rate) == (0.0, 1.0)


def test_threshold_is_the_most_accurate_within_the_wrong_rate():
    gold = ["a.x", "a.x", "a.y", "", "", ""]
    candidates = ["a.x", "a.x", "a.x", "a.y", "", ""]
    confidences = [0.9, 0.6, 0.5, 0.3, 0.9, 0.9]
    threshold, accuracy, wrong = choose_threshold(gold, candidates, confidences, max_wrong_rate=0.0)
    # Above 0.5 the two wrong specific answers (0.5 and 0.3) are held back; 0.6 is still given.
    assert threshold == 0.55 and wrong == 0.0 and accuracy == pytest.approx(5 / 6)


def test_threshold_gives_no_sub_answers_when_none_meets_the_wrong_rate():
    threshold, _, wrong = choose_threshold(["", ""], ["a.x", "a.x"], [0.99, 0.99], 0.0)
    assert wrong == 0.0 and threshold == NEVER
    assert gate("side_effects", (["", "side_effects.x"], np.array([0.0, 1.0])), NEVER).sub_answer is None


# --- the component on small data -------------------------------------------------------------

FLU = ["can i get the flu jab on prednisone", "is the flu shot ok with steroids",
       "nasal flu vaccine for my son on steroids", "flu vaccination while on tacrolimus",
       "should people on mycophenolate have the flu injection", "flu jab and immunosuppression"]
GROWTH = ["do steroids stop children growing", "will prednisolone make my daughter short",
          "steroid effect on height in kids", "growth problems from long steroid courses",
          "can steroids affect how tall a child gets", "is slow growth a steroid side effect"]
GENERAL_SIDE_EFFECTS = ["what are the side effects of fsgs treatment", "side effects of the drugs",
                        "what side effects should I watch for", "are the medicines harmful",
                        "what monitoring is needed on treatment", "do the treatments have risks"]
OTHER_TOPIC = ["what is fsgs", "what does focal segmental mean", "explain fsgs to me"]


def _example(text: str, intent: str, sub_answer: str | None = None) -> Message:
    return Message.build(text, intent, example_metadata={SUB_ANSWER: sub_answer} if sub_answer else None)


def _training_data() -> TrainingData:
    return TrainingData(
        [_example(t, "side_effects", "side_effects.flu_vaccine") for t in FLU]
        + [_example(t, "side_effects", "side_effects.growth") for t in GROWTH]
        + [_example(t, "side_effects") for t in GENERAL_SIDE_EFFECTS]
        + [_example(t, "fsgs_definition") for t in OTHER_TOPIC])


def _message(text: str, intent: str, dense: np.ndarray | None = None, **data) -> Message:
    message = Message(data={"text": text, "intent": {"name": intent, "confidence": 0.9}, **data})
    if dense is not None:
        message.add_features(Features(dense.reshape(1, -1), "sentence", "text", "dense_featurizer"))
    return message


def _sub_answers(message: Message) -> list[str]:
    return [e["value"] for e in message.get("entities", []) if e["entity"] == SUB_ANSWER]


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test-model")


def _trained(storage: LocalModelStorage, training_data: TrainingData, **config) -> SubAnswerSelector:
    resource = Resource("sub_answer_selector")
    selector = SubAnswerSelector.create({**SubAnswerSelector.get_default_config(), **config},
                                        storage, resource, _context())
    selector.train(training_data)
    return SubAnswerSelector.load({**SubAnswerSelector.get_default_config(), **config},
                                  storage, resource, _context())


def test_rasa_keeps_example_metadata_where_the_selector_reads_it():
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().reads(
        'version: "3.1"\nnlu:\n- intent: side_effects\n  examples:\n  - text: flu jab on steroids\n'
        '    metadata:\n      sub_answer: side_effects.flu_vaccine\n  - text: any side effects\n')
    labels = {m.get("text"): example_sub_answer(m) for m in data.intent_examples}
    assert labels == {"flu jab on steroids": "side_effects.flu_vaccine", "any side effects": None}


def test_selector_picks_the_sub_answer_after_a_save_and_load(storage):
    selector = _trained(storage, _training_data(), threshold=0.4)
    messages = [_message("is the flu jab safe on steroids", "side_effects"),
                _message("can steroids make a child shorter", "side_effects")]
    selector.process(messages)
    assert [_sub_answers(m) for m in messages] == [["side_effects.flu_vaccine"],
                                                    ["side_effects.growth"]]
    assert selector.threshold == 0.4


@pytest.mark.parametrize("intent", [*ESCALATION_INTENTS, "fsgs_definition", FALLBACK_INTENT])
def test_selector_adds_nothing_unless_the_final_intent_is_the_topic(storage, intent):
    selector = _trained(storage, _training_data(), threshold=0.0)
    message = _message("is the flu jab safe on steroids", intent)
    selector.process([message])
    assert _sub_answers(message) == []


def test_selector_counts_the_other_topic_that_holds_the_same_answer(storage):
    data = TrainingData(_training_data().training_examples
                        + [_example(t, "complications", "complications.flu_vaccine") for t in FLU]
                        + [_example(t, "complications") for t in ["what complications can fsgs cause",
                                                                  "can nephrotic syndrome cause clots",
                                                                  "what problems come with fsgs"]])
    pairs = [["side_effects.flu_vaccine", "complications.flu_vaccine"]]
    ranking = [{"name": "side_effects", "confidence": 0.5}, {"name": "complications", "confidence": 0.45}]
    given = []
    for config in ({"same_question": pairs}, {}):
        selector = _trained(storage, data, threshold=0.55, **config)
        message = _message("is the flu jab safe on steroids", "side_effects", intent_ranking=ranking)
        message.set("intent", {"name": "side_effects", "confidence": 0.5})
        selector.process([message])
        given.append(_sub_answers(message))
    assert given == [["side_effects.flu_vaccine"], []]


def test_selector_adds_nothing_below_its_threshold(storage):
    selector = _trained(storage, _training_data(), threshold=0.999)
    message = _message("is the flu jab safe on steroids", "side_effects")
    selector.process([message])
    assert _sub_answers(message) == [] and message.get("sub_answer_selection")["candidate"] != GENERAL


def test_selector_ignores_client_metadata_at_inference(storage):
    selector = _trained(storage, _training_data(), threshold=0.4)
    message = _message("what side effects should I watch for", "side_effects",
                       metadata={"example": {SUB_ANSWER: "side_effects.growth"}})
    selector.process([message])
    assert _sub_answers(message) == []


def test_selector_chooses_its_threshold_by_cross_validation(storage):
    selector = _trained(storage, _training_data())
    cv = selector.cross_validation
    assert selector.threshold in [round(t, 2) for t in np.arange(0.2, 0.951, 0.05)]
    assert cv["chosen_by"].startswith("cross-validation")
    assert (cv["specific_examples"], cv["general_examples"]) == (12, 6)
    assert set(cv["per_topic"]) == {"side_effects"}


def test_selector_uses_dense_sentence_features_when_the_pipeline_has_them(storage):
    """With features that separate the classes perfectly and texts that say nothing, only the
    dense features can tell the sub-answers apart."""
    rng = np.random.default_rng(0)
    centres = {"side_effects.flu_vaccine": np.eye(8)[0], "side_effects.growth": np.eye(8)[1],
               GENERAL: np.eye(8)[2]}
    examples = []
    for label, centre in centres.items():
        for _ in range(8):
            example = _example("tell me about this please", "side_effects", label or None)
            example.add_features(Features((centre + rng.normal(0, 0.05, 8)).reshape(1, -1),
                                          "sentence", "text", "dense_featurizer"))
            examples.append(example)
    selector = _trained(storage, TrainingData(examples), threshold=0.5, dense_weight=4.0)
    message = _message("tell me about this please", "side_effects", dense=centres["side_effects.growth"])
    selector.process([message])
    assert _sub_answers(message) == ["side_effects.growth"]
    without = _message("tell me about this please", "side_effects")
    selector.process([without])   # a message without dense features is read as zeros, not a crash
    assert without.get("sub_answer_selection") is not None


def test_selector_rejects_a_sub_answer_filed_under_another_intent(storage):
    data = TrainingData([_example(t, "side_effects") for t in GENERAL_SIDE_EFFECTS]
                        + [_example("tacrolimus brands", "side_effects", "immunosuppressants.brand")])
    selector = SubAnswerSelector.create(SubAnswerSelector.get_default_config(), storage,
                                        Resource("s"), _context())
    with pytest.raises(ValueError, match="immunosuppressants.brand"):
        selector.train(data)


def test_selector_without_any_sub_answers_trains_and_adds_nothing(storage):
    selector = _trained(storage, TrainingData([_example(t, "side_effects") for t in GENERAL_SIDE_EFFECTS]))
    message = _message("side effects of the drugs", "side_effects")
    selector.process([message])
    assert _sub_answers(message) == [] and selector.threshold is None


# --- the trained model on the held-out questions ----------------------------------------------

@pytest.fixture(scope="module")
def holdout_scores(parse):
    questions = load_questions()
    assert questions, "no held-out questions in tests/data/subanswers"
    return score(questions, parse)


@pytest.mark.slow
def test_holdout_wrong_specific_answers_stay_rare(holdout_scores):
    wrong = [e for e, r in zip(holdout_scores.errors(), [r for r in holdout_scores.replies if not r.correct],
                               strict=True) if r.wrong_specific]
    assert holdout_scores.wrong_rate <= TARGETS["wrong_rate"], "\n".join(wrong)


@pytest.mark.slow
def test_holdout_sub_answer_accuracy_stays_above_its_floor(holdout_scores):
    """The gold sub-answer, or the general answer for a general question, with the right intent
    (the issue's goal TARGETS["accuracy"] is printed by the bench; this is the regression floor)."""
    assert holdout_scores.accuracy >= ENFORCED_ACCURACY_FLOOR, (
        f"accuracy {holdout_scores.accuracy:.3f} (wrong {holdout_scores.wrong_rate:.3f}), "
        f"targets {TARGETS}\n" + "\n".join(holdout_scores.errors()))


@pytest.mark.slow
def test_canonical_questions_get_their_specific_answer(parse):
    """"what is APOL1" is answered by the APOL1 sub-answer, not the topic's general answer."""
    scores = score(load_questions(CANONICAL_QUESTIONS_DIR), parse)
    assert len(scores.replies) >= 50
    assert scores.accuracy >= CANONICAL_ACCURACY_FLOOR and scores.wrong_rate <= TARGETS["wrong_rate"], (
        f"accuracy {scores.accuracy:.3f}, wrong {scores.wrong_rate:.3f}\n" + "\n".join(scores.errors()))
