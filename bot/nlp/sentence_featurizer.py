"""A Rasa dense featurizer from the offline sentence encoder (bot/nlp/sentence_model.py).

It emits a standard dense *sentence* feature for the text (the mean-pooled, L2-normalised
embedding), which the project's classifiers read with `message.get_dense_features(TEXT)`. No
sequence features: no component here reads per-token vectors (DIET, which would, is not in the
pipeline), and lining wordpieces up with tokens cost about 2 ms a parse. Training messages are
encoded in length-sorted batches; a parse encodes its one message through the same graph.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.sentence_model import MAX_LENGTH, SentenceEncoder


@lru_cache(maxsize=2)
def _encoder(model_path: str, max_length: int, threads: int = 1) -> SentenceEncoder:
    """One encoder per process, model and thread count: loading it takes about a second."""
    return SentenceEncoder(Path(model_path), max_length=max_length, threads=threads)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense sentence features from all-MiniLM-L6-v2, loaded from `model_path`."""

    @classmethod
    def required_components(cls) -> list[type]:
        return []  # the encoder tokenizes the raw text itself

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "model_path": "build/sentence_model",
                "max_length": MAX_LENGTH, "batch_size": 64}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if int(config["max_length"]) < 8:
            raise ValueError("max_length must be at least 8 wordpieces")

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._encoder = _encoder(str(config["model_path"]), int(config["max_length"]))

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> SentenceEmbeddingFeaturizer:
        return cls({**cls.get_default_config(), **config}, execution_context.node_name)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training encodes every example, so it uses every core (a parse uses one)."""
        encoder = _encoder(str(self._config["model_path"]), int(self._config["max_length"]),
                           os.cpu_count() or 1)
        self._featurize([m for m in training_data.training_examples if m.get(TEXT)], encoder)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Every message gets features, an empty one too, so no classifier meets a gap."""
        self._featurize([m for m in messages if m.get(TEXT) is not None], self._encoder)
        return messages

    def _featurize(self, messages: list[Message], encoder: SentenceEncoder) -> None:
        if not messages:
            return
        encoded = encoder.encode([m.get(TEXT) for m in messages],
                                 batch_size=int(self._config["batch_size"]))
        for message, sentence in zip(messages, encoded, strict=True):
            self.add_features_to_message(None, sentence[np.newaxis, :].astype(np.float32), TEXT, message)
