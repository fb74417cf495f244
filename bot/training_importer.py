"""The project's Rasa training-data importer (config.yml `importers:`): Rasa's file importer
that reads the NLU files once per command.

Why: in Rasa 3.6 `ResponsesSyncImporter.get_domain()` asks for the NLU data without a language
and `get_nlu_data(language)` asks with one; `CombinedDataImporter` caches on the call's arguments,
so `rasa train`, `rasa data validate` and `rasa test` parsed (and schema-validated) every file in
nlu_data/ twice, about 15 s of each training. Here the cache key is the language the files are
read for, whichever way it was passed.
"""
from __future__ import annotations

from rasa.shared.importers.rasa import RasaFileImporter
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.utils.common import cached_method


class ProjectFileImporter(RasaFileImporter):
    """`RasaFileImporter` whose NLU data is read once per language."""

    def get_nlu_data(self, language: str | None = "en") -> TrainingData:
        return self._nlu_data_for(language)

    @cached_method
    def _nlu_data_for(self, language: str | None) -> TrainingData:
        return super().get_nlu_data(language)
