"""What the project's two scikit-learn NLU components share: the n-gram text features they read
and how their trained model is kept in Rasa's model storage.

Models are saved with skops rather than pickle, so loading a model file runs no code of its own:
only the types a component declares may appear in it (`EXPECTED_UNTRUSTED_TYPES`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from sklearn.feature_extraction.text import TfidfVectorizer

# What skops cannot vouch for by itself in these models: the vectorizers' idf matrices.
EXPECTED_UNTRUSTED_TYPES = frozenset({"scipy.sparse._csr.csr_matrix"})
Component = TypeVar("Component", bound="PersistedModelComponent")


def normalised_words(message: Message) -> str:
    """Lower-case lemmas, each entity span replaced by "<label> <canonical id>", so that brand
    names and abbreviations share what was learnt ("Prograf" and "tac" both become
    "medication tacrolimus")."""
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


def raw_text(message: Message) -> str:
    """The text the character n-grams read: raw and lower-cased, to absorb typos."""
    return (message.get(TEXT) or "").lower()


def sentence_vector(message: Message) -> np.ndarray | None:
    """The sentence row an earlier dense featurizer left on the message, flat, or None."""
    _, sentence = message.get_dense_features(TEXT)
    return None if sentence is None else np.asarray(sentence.features, dtype=np.float64).reshape(-1)


def ngram_vectorizers(config: dict[str, Any]) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    """Unfitted word 1-2 gram (over `normalised_words`) and character n-gram vectorizers."""
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+")
    chars = TfidfVectorizer(analyzer="char_wb", sublinear_tf=True,
                            ngram_range=(config["char_min_ngram"], config["char_max_ngram"]))
    return words, chars


class PersistedModelComponent(GraphComponent):
    """A trainable component whose whole state is one skops-saved model (None: nothing learnt)."""

    MODEL_FILE: ClassVar[str]

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 model: dict[str, Any] | None = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(cls: type[Component], config: dict[str, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext) -> Component:
        return cls(config, model_storage, resource)

    def _persist(self) -> None:
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump({"model": self._model}, Path(model_dir) / self.MODEL_FILE)

    @classmethod
    def load(cls: type[Component], config: dict[str, Any], model_storage: ModelStorage,
             resource: Resource, execution_context: ExecutionContext, **kwargs: Any) -> Component:
        import skops.io as sio

        with model_storage.read_from(resource) as model_dir:
            path = Path(model_dir) / cls.MODEL_FILE
            untrusted = set(sio.get_untrusted_types(file=path))
            if not untrusted <= EXPECTED_UNTRUSTED_TYPES:
                raise ValueError(f"unexpected types in {path.name}: {untrusted}")
            model = sio.load(path, trusted=sorted(untrusted))["model"]
        return cls(config, model_storage, resource, model)
