"""Builds the project's own spaCy pipeline from `terms.yml` (no pretrained model can be downloaded).

Blank English + lookup lemmatizer (spacy-lookups-data) + an entity ruler whose patterns carry the
canonical id of each term (`ent.ent_id_`). Rasa loads the saved folder through `SpacyNLP`
(`model: build/spacy_pipeline` in config.yml).

    python -m bot.nlp.pipeline [OUTPUT_DIR]
"""
from __future__ import annotations

import sys
from pathlib import Path

import spacy
import yaml
from spacy.language import Language

from bot.settings import PROJECT_ROOT

TERMS_PATH = Path(__file__).with_name("terms.yml")
DEFAULT_OUTPUT = PROJECT_ROOT / "build" / "spacy_pipeline"
# Red flags are matched on lemmas ("coughed up blood" ~ "coughing up blood"); the rest on lower case.
LEMMA_MATCHED_LABELS = {"red_flag"}
# A phrase written "=is fitting" matches those exact words even in a lemma-matched label: the lemma
# of "fitting" is "fit", and "his shoes don't fit" or "keep fit" are not seizures.
EXACT_MARK = "="

Terms = dict[str, dict[str, list[str]]]


def load_terms(path: Path = TERMS_PATH) -> Terms:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _blank_english() -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


def _patterns(nlp: Language, terms: Terms) -> list[dict]:
    patterns = []
    for label, entries in terms.items():
        by_lemma = label in LEMMA_MATCHED_LABELS
        for canonical, phrases in entries.items():
            for phrase in map(str, phrases):
                exact = phrase.startswith(EXACT_MARK)
                attribute = "LEMMA" if by_lemma and not exact else "LOWER"
                tokens = nlp(phrase.removeprefix(EXACT_MARK).lower())
                values = [t.lemma_ if attribute == "LEMMA" else t.lower_ for t in tokens]
                patterns.append({"label": label, "id": canonical,
                                 "pattern": [{attribute: value} for value in values]})
    return patterns


def build_nlp(terms: Terms | None = None) -> Language:
    """The in-memory pipeline: tokenizer, lemmatizer and entity ruler."""
    nlp = _blank_english()
    patterns = _patterns(nlp, terms if terms is not None else load_terms())
    nlp.add_pipe("entity_ruler", config={"validate": True}).add_patterns(patterns)  # type: ignore[attr-defined]
    nlp.meta["name"] = "fsgs_pipeline"
    nlp.meta["description"] = "FSGS assistant: blank English, lookup lemmas, terms.yml entity ruler"
    return nlp


def build_and_save(output: Path = DEFAULT_OUTPUT) -> Path:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    build_nlp().to_disk(output)
    return output


if __name__ == "__main__":
    print(build_and_save(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT))
