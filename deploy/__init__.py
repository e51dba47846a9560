"""fullchain deploy stage."""
