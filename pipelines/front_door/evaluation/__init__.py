"""fullchain.evaluation (`fullchain eval`): models evaluated with EleutherAI's lm-evaluation-harness
on local tasks, in each form the chain makes them (docs/EVALUATION.md).

- harness_lm.py: the base `LM` of the three backends (tokenization, batching, the request types)
- hf_backend.py (`fullchain-hf`), onnx_backend.py (`fullchain-onnx`), served_backend.py
  (`fullchain-served`); backends.py registers them with the harness; lm_eval_cli.py: `lm_eval` with them
- scoring.py: log-likelihoods from logits, batches, stop strings (pure numpy)
- model_spec.py: what a MODEL argument names; task_files.py: the shipped suite (tasks/) and users'
  task YAML files, checked; perplexity_data.py: perplexity tasks from given text
- contamination.py: clean / contaminated items and split scores (index: fullchain.pipelines.decontaminate)
- evaluate.py: the run and its files; summary.py: table and plot; config.py: EvalConfig; cli.py
"""
