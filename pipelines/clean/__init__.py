"""Core of the `fullchain clean` stage: decoding, normalisation, language id and quality rules, free of Beam."""
