"""The backtranslate stage (`fullchain backtranslate`): round-trip translation (source -> pivot ->
source) of a seeded share of documents, kept as new documents when the round trip passes a
language and similarity gate.

- selection.py: which documents are augmented; roundtrip.py: the core, the augmented document
- chunking.py: documents into model-sized chunks and back; lineage.py: the new document's id and metadata
- gate.py, similarity.py: the round-trip gate and chrF
- translators.py: Hugging Face translation, free of Beam; handlers.py: its RunInference handlers
- model_check.py: the models checked before a job; beam.py: `Backtranslate`
- config.py: BacktranslateConfig, the stage's section of the run config
"""
