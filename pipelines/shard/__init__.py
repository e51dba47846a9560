"""fullchain shard: tokenize kept documents into WebDataset tar shards and a manifest the trainer reads."""
