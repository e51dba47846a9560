"""The `fullchain dedup` stage: exact and MinHash LSH near-duplicate removal.

The core modules (tokens, exact_hash, shingles, minhash, lsh, jaccard, connected_components)
are free of Beam; `pipelines.dedup.beam` wires them into the `DeduplicateDocuments` transform.
"""
