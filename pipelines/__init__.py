"""fullchain pipelines stage."""
