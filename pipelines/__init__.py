"""fullchain.pipelines: the Beam data stages and the floor every stage and command stands on.

The stages, each a subpackage with a pure core and a thin Beam layer (beam.py): clean/, dedup/,
perplexity/ (ppl-filter), backtranslate/, shard/ (which also owns the shard format the trainer reads).

Shared by every package:
- config/: the config system (fields, YAML loading, flags, reference YAML, run_command)
- hf_loading.py: loading a user's Hugging Face folder, safetensors only
- cli.py: the data-stage commands (the front door, fullchain.cli, hands them over)

Shared by the data stages:
- job_config.py: RunConfig, the one run config with a section per stage
- stage_job.py: a stage (or prepare) as a Beam job; runners.py: runner profiles -> Beam options
- input_files.py, record_parsing.py: --input to files, raw records to Documents
- input_splits.py: byte ranges of large JSONL files and row-group runs of Parquet, read by several workers
- beam_data_stream.py: the fix of a data-loss race in Beam's local runner, installed before every job
- document.py: Document and Rejected; stage_outputs.py: what every stage transform returns
- length_batching.py: documents batched by length for a model (ppl-filter, classify)
- beam_io.py: reading input and writing kept/rejected Parquet with the ledger; input_reading.py:
  one input file or split into Documents and rejections
- ledger.py, stage_folder.py: a stage folder's ledger.json and its data parts, checked when read
- output_path.py, atomic_write.py: an output apart from its inputs, files never seen half-written
- worker_progress.py: workers' progress lines on the driver's stderr
- sample_corpus.py (with sample_text.py, its prose, and sample_words.py, its word lists), sample_models.py:
  the demo corpus with planted duplicates and noise, and tiny stand-in models
"""
