"""The dedup stage (`fullchain dedup`): exact and MinHash LSH near-duplicate removal.

The core modules are free of Beam; beam.py wires them into the `DeduplicateDocuments` transform,
and components_beam.py the connected components into the `ConnectedComponents` transform it uses.
- tokens.py, exact_hash.py: the tokens of a text and the exact-duplicate key
- shingles.py, minhash.py: shingle sets and vectorised MinHash signatures (equal to datasketch's)
- decisions.py: DocKey (a document without its text) and the decisions made on keys alone
- lsh.py: band keys, their partitions for the shuffle, buckets and candidate pairs; jaccard.py: the
  exact check of every candidate (pair_shingles.py: the shingle sets of paired documents, in Beam)
- clusters.py: the near-duplicate clusters as Parquet (dedup.write_clusters)
- connected_components.py: clusters of the near-duplicate graph (large-star/small-star rounds)
- config.py: DedupConfig, the stage's section of the run config
"""
