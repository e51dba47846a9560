"""fullchain.pipelines.decontaminate: the n-gram overlap index between training data and evaluation items (issue 13; being written)."""
