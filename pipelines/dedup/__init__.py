"""The dedup stage (`fullchain dedup`): exact and MinHash LSH near-duplicate removal.

The core modules are free of Beam; beam.py wires them into the `DeduplicateDocuments` transform,
and components_beam.py the connected components into the `ConnectedComponents` transform it uses.
- tokens.py, exact_hash.py: the tokens of a text and the exact-duplicate key
- shingles.py, minhash.py: shingle sets and vectorised MinHash signatures (equal to datasketch's)
- lsh.py: band keys and candidate pairs; jaccard.py: the exact check of every candidate
- connected_components.py: clusters of the near-duplicate graph (large-star/small-star rounds)
- config.py: DedupConfig, the stage's section of the run config
"""
