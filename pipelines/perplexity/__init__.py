"""The ppl-filter stage (`fullchain ppl-filter`): CCNet-style filtering by causal-LM perplexity.

- scoring.py: the pure core (windows, perplexity, buckets, the keep/reject verdict)
- model_handler.py: the RunInference ModelHandler and the model check run before a job
- beam.py: `FilterByPerplexity`, batching by length and scoring on the workers
- config.py: PerplexityConfig, the stage's section of the run config
"""
