"""config.yml's importer reads the NLU files once per command (Rasa 3.6 read them twice)."""
from __future__ import annotations

import pytest
import rasa.shared.importers.utils
from rasa.shared.importers.importer import TrainingDataImporter

from bot.settings import PROJECT_ROOT
from bot.training_importer import ProjectFileImporter


def _importer() -> TrainingDataImporter:
    return TrainingDataImporter.load_from_config(
        str(PROJECT_ROOT / "config.yml"), str(PROJECT_ROOT / "domain"),
        [str(PROJECT_ROOT / "nlu_data"), str(PROJECT_ROOT / "stories")])


def test_the_project_config_names_the_project_importer():
    config = TrainingDataImporter.load_from_config(str(PROJECT_ROOT / "config.yml")).get_config()
    assert [entry["name"] for entry in config["importers"]] == [
        f"{ProjectFileImporter.__module__}.{ProjectFileImporter.__name__}"]


@pytest.fixture
def nlu_reads(monkeypatch):
    """The language of every read of NLU files, in order."""
    reads = []
    real_reader = rasa.shared.importers.utils.training_data_from_paths

    def counting_reader(paths, language):
        reads.append(language)
        return real_reader(paths, language)

    monkeypatch.setattr(rasa.shared.importers.utils, "training_data_from_paths", counting_reader)
    return reads


def test_training_reads_the_nlu_files_once(nlu_reads):
    importer = _importer()
    # What `rasa train` asks for: the domain (which reads the NLU data without a language)
    # and the NLU data for the config's language.
    importer.get_domain()
    nlu_data = importer.get_nlu_data("en")
    importer.get_nlu_data()

    assert nlu_reads == ["en"]
    assert nlu_data.intent_examples and nlu_data.intents


def test_another_language_is_read_for_itself(nlu_reads):
    importer = ProjectFileImporter(str(PROJECT_ROOT / "config.yml"), None,
                                   [str(PROJECT_ROOT / "nlu_data" / "chitchat.yml")])
    importer.get_nlu_data("en")
    importer.get_nlu_data("de")
    importer.get_nlu_data("en")
    assert nlu_reads == ["en", "de"]
