"""A Rasa dense featurizer from the offline sentence encoder (bot/nlp/sentence_model.py).

It emits the standard dense features for the text: a sequence matrix with one row per token of the
pipeline's tokenizer (the mean of the wordpieces inside that token, so it lines up with the sparse
features, as Rasa's classifiers such as DIET expect) and a sentence row (the mean-pooled,
L2-normalised embedding). Other components read them with `message.get_dense_features(TEXT)`.
Training messages are encoded in length-sorted batches; a parse encodes its one message through the
same traced graph.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.sentence_model import EMBEDDING_DIMENSION, SentenceEncoder


@lru_cache(maxsize=2)
def _encoder(model_path: str, max_length: int) -> SentenceEncoder:
    """One encoder per process and model: loading and tracing it takes seconds."""
    return SentenceEncoder(Path(model_path), max_length=max_length)


def token_vectors(tokens: Sequence[Token], pieces: np.ndarray,
                  offsets: Sequence[tuple[int, int]]) -> np.ndarray:
    """One row per token: the mean of the wordpiece vectors whose characters fall inside it
    (zeros for a token past the encoder's maximum length)."""
    piece_spans = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    token_spans = np.asarray([(token.start, token.end) for token in tokens], dtype=np.int64)
    inside = ((piece_spans[None, :, 0] < token_spans[:, None, 1])
              & (piece_spans[None, :, 1] > token_spans[:, None, 0])
              & (piece_spans[None, :, 1] > piece_spans[None, :, 0]))  # not [CLS]/[SEP]
    counts = inside.sum(axis=1, keepdims=True)
    return (inside @ pieces / np.maximum(counts, 1)).astype(np.float32)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense sequence + sentence features from all-MiniLM-L6-v2, loaded from `model_path`."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "model_path": "build/sentence_model",
                "max_length": 128, "batch_size": 64}

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
        self._featurize([m for m in training_data.training_examples if m.get(TEXT)])
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Every message gets features, an empty one too, so no classifier meets a gap."""
        self._featurize([m for m in messages if m.get(TEXT) is not None])
        return messages

    def _featurize(self, messages: list[Message]) -> None:
        if not messages:
            return
        encoded = self._encoder.encode([m.get(TEXT) for m in messages],
                                       batch_size=int(self._config["batch_size"]))
        for message, (pieces, offsets, sentence) in zip(messages, encoded, strict=True):
            tokens = message.get(TOKENS_NAMES[TEXT]) or []
            sequence = (token_vectors(tokens, pieces, offsets) if tokens
                        else np.zeros((1, EMBEDDING_DIMENSION), dtype=np.float32))
            self.add_features_to_message(sequence, sentence[np.newaxis, :].astype(np.float32),
                                         TEXT, message)
