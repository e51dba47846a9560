"""The clean stage (`fullchain clean`): decoding, normalisation, language id and quality rules.

The core is free of Beam; beam.py is a thin layer over cleaner.py.
- cleaner.py: DocumentCleaner, one document in, a cleaned document or a rejection out
- encoding.py: bytes to text, binary detection, mojibake repair
- normalize.py: Unicode, punctuation and whitespace normalisation
- segmentation.py: words (CJK-aware), lines, paragraphs, sentences
- language.py: language identification, by script (script.py) where it decides, else deterministic
  langdetect; chinese_variant.py: simplified or traditional characters (OpenCC)
- gopher.py, c4.py, blocklist.py: the quality rules; failure.py: a rule's verdict
- config.py: CleanConfig, the stage's section of the run config; config_checks.py: its value checks
"""
