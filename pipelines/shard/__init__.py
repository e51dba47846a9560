"""The shard stage (`fullchain shard`): tokenize kept documents into WebDataset tar shards and a
manifest the trainer reads; this package owns the shard format, writer and reader side.

- format.py: the layout (manifest.json, tokenizer/, sample members), paths from the folder or its
  manifest, and the reader of a sample's token ids
- manifest.py: building, validating and loading the manifest; verifying a shard against it
- assignment.py: a document's split, sample key and shard, from its id
- samples.py, tar_writing.py: a document as a sample, samples as deterministic tar bytes
- tokenizer_files.py: training, loading and hashing a tokenizer held as bytes
- output_files.py: writing the output so no reader sees a half-written file
- beam.py: `WriteShards`; config.py: ShardConfig, the stage's section of the run config
"""
