"""fullchain.pipelines.synonyms: synonym-replacement augmentation (issue 15; being written)."""
