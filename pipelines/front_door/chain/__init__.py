"""fullchain.chain: `fullchain run`, the whole chain as one resumable command (issue 12; being written)."""
