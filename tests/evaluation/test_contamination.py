"""Contamination, measured: evaluation items planted into a training corpus are found by the n-gram
index (and nothing else is), and a model that learned that corpus scores the planted items better
than the clean ones, which the split scores show."""

import json

import pytest

from fullchain.evaluation.config import ContaminationConfig, EvalConfig
from fullchain.evaluation.evaluate import evaluate_models
from fullchain.evaluation.task_files import SUITE_DIR
from fullchain.pipelines.decontaminate.ngram_index import NgramIndex, contaminated_items, item_grams
from fullchain.pipelines.sample_models import tiny_tokenizer
from tests.tiny_models import bigram_lm

FILLER = ["Local historians have gathered letters, parish records and diaries about the flood.",
          "Today the river is quieter, but it still plays an important role in local life."]
PLANTED = (0, 2, 4, 6, 8, 10)


def test_the_index_finds_exactly_the_planted_items_whatever_their_case_and_spacing():
    items = {"a": "The quick brown fox jumps over the lazy dog near the river bank today", "b": "tiny",
             "c": "A completely different sentence about the weather in the mountains this week"}
    index = NgramIndex(items, n=13)
    assert item_grams("tiny", 13) == set()  # under 4 words: not checked
    corpus = ["nothing here", "Yesterday THE quick brown fox   jumps over the lazy-dog near the river bank today!"]
    assert contaminated_items(index, corpus) == {"a": 2}
    assert contaminated_items(NgramIndex(items, n=5), corpus)["a"] == 10
    assert contaminated_items(NgramIndex(items, n=5), corpus, min_overlap=11) == {}


@pytest.fixture(scope="module")
def planted_corpus(tmp_path_factory):
    """A training corpus with half of the cloze items in it (several times), and a bigram model of it."""
    folder = tmp_path_factory.mktemp("planted")
    items = [json.loads(line) for line in (SUITE_DIR / "data" / "fc_cloze.jsonl").read_text().splitlines()]
    texts = FILLER * 3 + [f"{items[i]['context']} {items[i]['word']}." for i in PLANTED for _ in range(4)]
    corpus = folder / "train.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    tokenizer = tiny_tokenizer()
    ids = [i for t in texts for i in [tokenizer.bos_token_id] + tokenizer(t, add_special_tokens=False)["input_ids"]]
    return corpus, bigram_lm(str(folder / "bigram"), ids)


def test_planted_items_are_marked_and_score_apart(planted_corpus, tmp_path):
    corpus, model = planted_corpus
    config = EvalConfig(tasks=["fc_cloze"], contamination=ContaminationConfig(training=[str(corpus)]))
    evaluate_models([model], str(tmp_path / "eval"), config)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    split = results["fullchain_contamination"]["tasks"]["fc_cloze"]
    assert split["contaminated_ids"] == list(PLANTED)
    assert split["items"] == {"all": 12, "clean": 6, "contaminated": 6}
    perplexity = split["metrics"]["perplexity"]
    assert perplexity["all"] == pytest.approx(results["results"]["fc_cloze"]["perplexity,none"])
    # the model learned the planted sentences: their last words are far likelier than the clean ones'
    assert perplexity["contaminated"] * 10 < perplexity["clean"]
    assert split["metrics"]["acc"]["all"] == pytest.approx(results["results"]["fc_cloze"]["acc,none"])
