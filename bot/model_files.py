"""Where trained Rasa models are, and which one runs: the newest `models/*.tar.gz` (`make train`)."""
from __future__ import annotations

from pathlib import Path

from bot.settings import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "models"


def newest_model(models_dir: Path = MODELS_DIR) -> Path | None:
    """The most recently written model in `models_dir`, or None when there is none."""
    candidates = sorted(Path(models_dir).glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else None


def latest_model(models_dir: Path = MODELS_DIR) -> Path:
    """Like `newest_model`, for starting a server: no model is an error that says what to do."""
    model = newest_model(models_dir)
    if model is None:
        raise FileNotFoundError(f"No trained model in {models_dir}: run `make train` first.")
    return model
