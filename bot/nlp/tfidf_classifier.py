"""The intent classifier: a logistic regression over TF-IDF n-grams and a sentence embedding.

Why: on the held-out sets a linear model over word and character n-grams generalised better than
DIET on this small, phrase-heavy data, and DIET blended in added nothing (bench/nlu_eval.py, README).
Words are read as lemmas with each terms.yml entity replaced by its label and canonical id; characters
from the raw text, to absorb typos. With `dense_weight` > 0 the sentence embedding an earlier dense
featurizer left on the message (bot/nlp/sentence_featurizer.py) joins the n-grams, scaled by that
weight: it carries meaning that no n-gram shares ("the infusion" ~ rituximab, "hormone therapy" ~
steroids; +2-3 points on realistic patient messages).

Specific questions sit near the boundaries between topics ("side effects of dapagliflozin":
side effects or kidney protection?). With `topic_rerank_weight` > 0 a second logistic regression,
on the embedding alone and with each sub-answer as a class of its own (a topic's general examples
keep the topic), re-ranks the topics: its probabilities summed per topic are averaged with the main
model's. It only moves probability between informational topics, and only when the main model's
best intent is one, so no escalation, chitchat or fallback decision can change (on the held-out
sub-answer questions: right topic 0.883 -> 0.904; realistic messages 0.948 -> 0.955, bench figures
in the README).

The embedding places any text near some topic, nonsense included ("flibber jabber quux" landed on
side effects at 0.5). A message in which no word is one the training data used therefore gets no
confidence at all, and the FallbackClassifier after this component answers "I didn't understand".
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.utils.spacy_utils import SpacyNLP
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.linear_model import LogisticRegression

from bot.intents import INFORMATIONAL_INTENTS
from bot.nlp.blocked_logistic import fit_blocked_logistic
from bot.nlp.sklearn_component import (
    PersistedModelComponent,
    ngram_vectorizers,
    normalised_words,
    raw_text,
    sentence_vector,
)
from bot.nlp.subanswers import SECOND_OPINION_KEY, example_sub_answer, topic_of

RANKING_LENGTH = 10


def knows_a_word(words: str, vocabulary: dict[str, int]) -> bool:
    """True when a content word of `words` (normalised, space-separated) is in the training
    vocabulary; function words ("the", "of") count only when the message has nothing else, so
    "no" is known and "the flibber of quux" is not. Chat spellings of known words count too:
    stretched letters ("hiii", "pleeease") and two words run together ("thankyou")."""
    tokens = [t for t in words.split() if any(c.isalpha() for c in t)]
    content = [t for t in tokens if t not in ENGLISH_STOP_WORDS] or tokens
    return any(_known(t, vocabulary) for t in content)


_STRETCHED = re.compile(r"(.)\1{2,}")
_SHORTEST_PART = 2


def _known(token: str, vocabulary: dict[str, int]) -> bool:
    spellings = {token, _STRETCHED.sub(r"\1", token), _STRETCHED.sub(r"\1\1", token)}
    return any(spelling in vocabulary or _two_known_words(spelling, vocabulary)
               for spelling in spellings)


def rerank_topics(probabilities: np.ndarray, classes: list[str], finer: np.ndarray,
                  weight: float) -> np.ndarray:
    """`probabilities` (rows over `classes`) with the informational topics' share re-weighted:
    where a row's best class is an informational topic, that share keeps its total but is split as
    (1 - weight) x the main model's split + weight x `finer`'s (per-topic probabilities of the
    finer model, same columns). Other rows, and every other class's probability, stay as they are."""
    topics = np.array([c in INFORMATIONAL_INTENTS for c in classes])
    result = probabilities.copy()
    for row, finer_row in zip(result, finer, strict=True):
        share, finer_share = row[topics].sum(), finer_row[topics].sum()
        if not topics[int(np.argmax(row))] or share <= 0 or finer_share <= 0:
            continue
        row[topics] = share * ((1 - weight) * row[topics] / share
                               + weight * finer_row[topics] / finer_share)
    return result


def _fit(features: Any, labels: list[str], C: float) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=5000).fit(features, labels)


def _summed_per_intent(finer: LogisticRegression, finer_probabilities: np.ndarray,
                       classes: list[str]) -> np.ndarray:
    """The finer model's probabilities summed per intent ("side_effects.flu_vaccine" counts for
    "side_effects"), in `classes` order."""
    to_intent = np.zeros((len(finer.classes_), len(classes)))
    for row, label in enumerate(finer.classes_):
        to_intent[row, classes.index(topic_of(label))] = 1.0
    return finer_probabilities @ to_intent


def _two_known_words(token: str, vocabulary: dict[str, int]) -> bool:
    return any(token[:cut] in vocabulary and token[cut:] in vocabulary
               for cut in range(_SHORTEST_PART, len(token) - _SHORTEST_PART + 1))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(PersistedModelComponent, IntentClassifier):
    """Sets the intent and ranking from its probabilities (all zero for a message of unknown words)."""

    MODEL_FILE = "tfidf_intent_classifier.skops"

    @classmethod
    def required_components(cls) -> list[type]:
        return [SpacyNLP]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"C": 20.0, "char_min_ngram": 2, "char_max_ngram": 5, "dense_weight": 1.0,
                "topic_rerank_weight": 0.5,
                # An n-gram in fewer training examples than this gets no weight in the main model.
                "min_ngram_examples": 1}

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(INTENT) and m.get(TEXT)]
        words, chars = ngram_vectorizers(self._config)
        dense = self._dense(examples, training=True).toarray()
        ngrams = hstack([words.fit_transform([normalised_words(m) for m in examples]),
                         chars.fit_transform([raw_text(m) for m in examples])]).tocsr()
        C = self._config["C"]
        # The main model reads the columns [n-grams | embedding], as process() stacks them.
        jobs = [delayed(fit_blocked_logistic)(ngrams, dense, [m.get(INTENT) for m in examples], C,
                                              min_examples=int(self._config["min_ngram_examples"]))]
        if self._reranks():
            # The finer classes: a sub-answer's examples are its own class, the rest their intent.
            jobs.append(delayed(_fit)(dense, [example_sub_answer(m) or m.get(INTENT)
                                              for m in examples], C))
        # Independent fits, side by side (one process per core).
        fitted = Parallel(n_jobs=len(jobs))(jobs)
        self._model = {"words": words, "chars": chars, "classifier": fitted[0],
                       "finer": fitted[1] if len(fitted) > 1 else None}
        self._persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        if self._model is None or not messages:
            return messages
        words = [normalised_words(m) for m in messages]
        dense = self._dense(messages, training=False)
        features = hstack([
            self._model["words"].transform(words),
            self._model["chars"].transform([raw_text(m) for m in messages]),
            dense,
        ]).tocsr()
        classes = list(self._model["classifier"].classes_)
        probabilities = self._model["classifier"].predict_proba(features)
        finer = self._model.get("finer")
        if finer is not None:
            finer_probabilities = finer.predict_proba(dense.toarray())
            probabilities = rerank_topics(probabilities, classes,
                                          _summed_per_intent(finer, finer_probabilities, classes),
                                          float(self._config["topic_rerank_weight"]))
            # The finer model's own best class: the sub-answer selector's second opinion.
            for message, row in zip(messages, finer_probabilities, strict=True):
                message.set(SECOND_OPINION_KEY, str(finer.classes_[int(np.argmax(row))]))
        vocabulary = self._model["words"].vocabulary_
        for message, text, own in zip(messages, words, probabilities, strict=True):
            confidences = own if knows_a_word(text, vocabulary) else np.zeros_like(own)
            ranking = [{INTENT_NAME_KEY: classes[i],
                        PREDICTED_CONFIDENCE_KEY: float(confidences[i])}
                       for i in np.argsort(-own)[:RANKING_LENGTH]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def _reranks(self) -> bool:
        return float(self._config["topic_rerank_weight"]) > 0 and float(self._config["dense_weight"]) > 0

    def _dense(self, messages: list[Message], training: bool) -> csr_matrix:
        """The messages' dense sentence features times `dense_weight` (no columns when 0). A
        pipeline without a dense featurizer fails training; at parse time a message that has none
        (nothing to read) gets zeros rather than an error."""
        weight = float(self._config["dense_weight"])
        if weight == 0:
            return csr_matrix((len(messages), 0))
        rows: list[np.ndarray | None] = []
        for message in messages:
            vector = sentence_vector(message)
            if vector is None and training:
                raise ValueError("dense_weight > 0 needs a dense featurizer (e.g. "
                                 "bot.nlp.sentence_featurizer.SentenceEmbeddingFeaturizer) first")
            rows.append(vector)
        width = self._dense_width() if any(row is None for row in rows) else 0
        filled = [np.zeros(width) if row is None else row for row in rows]
        return csr_matrix(weight * np.vstack(filled))

    def _dense_width(self) -> int:
        """How many dense columns the trained classifier expects."""
        model = self._model
        if model is None:
            raise ValueError("the classifier is not trained")
        total = model["classifier"].coef_.shape[1]
        return total - len(model["words"].vocabulary_) - len(model["chars"].vocabulary_)
