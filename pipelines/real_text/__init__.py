"""fullchain.pipelines.real_text: the real English and Chinese default corpus (issue 12; being written)."""
