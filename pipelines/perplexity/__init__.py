"""The ppl-filter stage: CCNet-style filtering of documents by causal-LM perplexity."""
