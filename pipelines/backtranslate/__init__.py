"""The backtranslate stage: round-trip translation (source -> pivot -> source) of a seeded share
of documents, kept as new documents when the round trip passes a language and similarity gate."""
