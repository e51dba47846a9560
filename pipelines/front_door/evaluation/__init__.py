"""fullchain.evaluation: `fullchain eval` on lm-evaluation-harness (issue 13; being written)."""
