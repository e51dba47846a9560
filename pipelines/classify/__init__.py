"""fullchain.pipelines.classify: the classify stage and `fullchain classifier train` (issue 15; being written)."""
