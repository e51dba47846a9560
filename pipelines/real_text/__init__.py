"""fullchain.pipelines.real_text: the corpus a run starts from (docs/CORPUS.md).

- config.py: CorpusConfig, the `corpus` section of `fullchain run` (source real or template, sizes,
  planting fractions)
- sources.py: the real English and Chinese texts found on this machine, with their licences
- planting.py: exact and near copies and junk planted on top of the originals, and their truth
- corpus.py: write_corpus, the corpus folder (corpus.jsonl.gz, planted.json, corpus.json)
"""
