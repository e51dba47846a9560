"""fullchain.chain: `fullchain run`, the whole chain as one resumable command (docs/RUN.md).

- stages.py: the chain as one table of stages (name, reads, config sections, run, marker, key figure)
- stage_runs.py: how each stage up to export runs (its standalone command in the run folder), its
  marker and figure; release_stage_runs.py: the same for publish, serve, loadtest, eval and report
- config.py: the run's YAML (its root config built from the table) and the chain's own section
- runner.py: run_chain, which skips, resumes or reruns each stage and records it
- fingerprints.py: what a stage's output depends on, as one hash
- record.py: DIR/run.json
- context.py: what every stage sees (folder, config, record, server)
- child_process.py: stage commands as children that die with the run
- serving.py: the run's Triton server (the project's TritonServer) and the smoke generation
- samples.py: DIR/train/samples.json, greedy samples at the start and end of training
- planted_catch.py: how many planted documents each data stage caught
- summary.py: the closing table
- cli.py: `fullchain run`
"""
