"""fullchain exporters stage."""
