"""fullchain trainers stage."""
