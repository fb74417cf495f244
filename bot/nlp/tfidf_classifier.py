"""A TF-IDF + logistic-regression intent classifier that blends with DIET's ranking.

Why: on the held-out set a linear model over word and character n-grams generalised better than
DIET alone on this small, phrase-heavy data, and the blend of the two beat each of them
(bench/nlu_eval.py). Words are read as lemmas with each terms.yml entity replaced by its label and
canonical id ("Prograf" and "tac" both become "medication tacrolimus"), so brand names and
abbreviations share what was learnt; characters are read from the raw text to absorb typos.
With `dense_weight` > 0 the sentence embedding an earlier dense featurizer left on the message
(bot/nlp/sentence_featurizer.py) joins the n-grams, scaled by that weight: it carries meaning that
no n-gram shares ("the infusion" ~ rituximab, "hormone therapy" ~ steroids; measured in the
issue-12 report: +2-3 points on realistic patient messages).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import SPACY_DOCS
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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

MODEL_FILE = "tfidf_intent_classifier.skops"
# What skops cannot vouch for by itself in this model: the vectorizers' idf matrices.
EXPECTED_UNTRUSTED_TYPES = {"scipy.sparse._csr.csr_matrix"}
RANKING_LENGTH = 10


def normalised_words(message: Message) -> str:
    """Lower-case lemmas, each entity span replaced by "<label> <canonical id>"."""
    doc = message.get(SPACY_DOCS[TEXT])
    if doc is None:
        return (message.get(TEXT) or "").lower()
    starts = {ent.start: ent for ent in doc.ents}
    words, index = [], 0
    while index < len(doc):
        ent = starts.get(index)
        if ent is not None:
            words += [ent.label_, ent.ent_id_ or ent.text.lower()]
            index = ent.end
        else:
            words.append(doc[index].lemma_.lower())
            index += 1
    return " ".join(words)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(GraphComponent, IntentClassifier):
    """Sets intent and ranking from `weight` x its own probabilities + (1 - weight) x the ranking
    an earlier classifier (DIET) left on the message, or from its own alone if there is none."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [SpacyNLP]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"C": 20.0, "char_min_ngram": 2, "char_max_ngram": 5, "weight": 0.7,
                "dense_weight": 1.0}

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 model: dict[str, Any] | None = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> TfidfIntentClassifier:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(INTENT) and m.get(TEXT)]
        words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+")
        chars = TfidfVectorizer(analyzer="char_wb", sublinear_tf=True, ngram_range=(
            self._config["char_min_ngram"], self._config["char_max_ngram"]))
        features = hstack([words.fit_transform([normalised_words(m) for m in examples]),
                           chars.fit_transform([m.get(TEXT).lower() for m in examples]),
                           self._dense(examples, training=True)]).tocsr()
        classifier = LogisticRegression(C=self._config["C"], max_iter=5000)
        classifier.fit(features, [m.get(INTENT) for m in examples])
        self._model = {"words": words, "chars": chars, "classifier": classifier}
        self._persist()
        return self._resource

    def _persist(self) -> None:
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump(self._model, Path(model_dir) / MODEL_FILE)

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> TfidfIntentClassifier:
        import skops.io as sio

        with model_storage.read_from(resource) as model_dir:
            path = Path(model_dir) / MODEL_FILE
            untrusted = set(sio.get_untrusted_types(file=path))
            if not untrusted <= EXPECTED_UNTRUSTED_TYPES:
                raise ValueError(f"unexpected types in {path.name}: {untrusted}")
            model = sio.load(path, trusted=sorted(untrusted))
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        if self._model is None or not messages:
            return messages
        features = hstack([
            self._model["words"].transform([normalised_words(m) for m in messages]),
            self._model["chars"].transform([(m.get(TEXT) or "").lower() for m in messages]),
            self._dense(messages, training=False),
        ]).tocsr()
        classes = list(self._model["classifier"].classes_)
        probabilities = self._model["classifier"].predict_proba(features)
        for message, own in zip(messages, probabilities, strict=True):
            blended = self._blend(classes, own, message.get(INTENT_RANKING_KEY) or [])
            ranking = [{INTENT_NAME_KEY: classes[i], PREDICTED_CONFIDENCE_KEY: float(blended[i])}
                       for i in np.argsort(-blended)[:RANKING_LENGTH]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def _dense(self, messages: list[Message], training: bool) -> csr_matrix:
        """The messages' dense sentence features times `dense_weight` (no columns when 0). A
        pipeline without a dense featurizer fails training; at parse time a message that has none
        (nothing to read) gets zeros rather than an error."""
        weight = float(self._config["dense_weight"])
        if weight == 0:
            return csr_matrix((len(messages), 0))
        rows: list[np.ndarray | None] = []
        for message in messages:
            _, sentence = message.get_dense_features(TEXT)
            if sentence is None and training:
                raise ValueError("dense_weight > 0 needs a dense featurizer (e.g. "
                                 "bot.nlp.sentence_featurizer.SentenceEmbeddingFeaturizer) first")
            rows.append(None if sentence is None
                        else np.asarray(sentence.features, dtype=np.float64).reshape(-1))
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

    def _blend(self, classes: list[str], own: np.ndarray, previous: list[dict[str, Any]]
               ) -> np.ndarray:
        if not previous:
            return own
        other = np.zeros_like(own)
        for entry in previous:
            if entry.get(INTENT_NAME_KEY) in classes:
                other[classes.index(entry[INTENT_NAME_KEY])] = entry[PREDICTED_CONFIDENCE_KEY]
        return self._config["weight"] * own + (1 - self._config["weight"]) * other
