"""fullchain.pipelines.decontaminate: the n-gram overlap between training data and evaluation items.

- ngram_index.py: the items' word n-grams and the search of training text for them (pure core)
- training_text.py: the documents of a shard output, a stage folder, or JSONL/Parquet files
"""
