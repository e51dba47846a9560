"""The synonyms stage (`fullchain synonyms`): synonym-replacement augmentation of a seeded share of
documents, added as new documents with back-translation's lineage (docs/AUGMENT.md).

- replacement.py: the pure core (protected spans, candidate words, the replaced text)
- lexicons.py: WordNet (nltk on Debian's wordnet-base files) and Cilin, and the resource check
- augmentation.py: whether a document is augmented, and the augmented document
- beam.py: `SynonymReplacement`; config.py: SynonymsConfig, the stage's section of the run config
"""
