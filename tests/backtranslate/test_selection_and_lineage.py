from fullchain.pipelines.backtranslate.lineage import augmented_document, augmented_id
from fullchain.pipelines.backtranslate.selection import is_selected
from fullchain.pipelines.document import Document


def test_selection_is_deterministic_and_close_to_the_fraction():
    ids = [f"id-{i}" for i in range(5000)]
    chosen = [i for i in ids if is_selected(i, seed=0, fraction=0.2)]
    assert chosen == [i for i in ids if is_selected(i, seed=0, fraction=0.2)]
    assert 0.18 < len(chosen) / len(ids) < 0.22
    other_seed = {i for i in ids if is_selected(i, seed=1, fraction=0.2)}
    assert other_seed != set(chosen)
    assert set(chosen) <= {i for i in ids if is_selected(i, seed=0, fraction=0.5)}  # a larger share adds documents
    assert not any(is_selected(i, 0, 0.0) for i in ids) and all(is_selected(i, 0, 1.0) for i in ids)


def test_augmented_document_has_a_new_stable_id_and_lineage():
    original = Document(id="abc", text="Hello.", source="a.jsonl", lang="en", meta={"url": "u"})
    aug = augmented_document(original, "Hi.", "en", "zh", 0.51234)
    assert aug.id == augmented_id("abc", "backtranslate", "zh") != original.id
    assert len(aug.id) == 20 and aug.id != augmented_id("abc", "backtranslate", "de")
    assert aug.text == "Hi." and aug.lang == "en" and aug.source == "a.jsonl"
    assert aug.meta == {"url": "u", "augmented_from": "abc", "augmentation": "backtranslate", "pivot_lang": "zh",
                        "roundtrip_similarity": 0.5123}
    assert original.meta == {"url": "u"}  # the original is not touched


def test_round_trips_are_scored_with_sacrebleu():
    from fullchain.pipelines.backtranslate.roundtrip_scores import roundtrip_scores

    same = roundtrip_scores("The river runs through the old town.", "The river runs through the old town.", "en")
    near = roundtrip_scores("The river flows through the old town.", "The river runs through the old town.", "en")
    assert same == {"bleu": 100.0, "chrf": 100.0} and 0 < near["bleu"] < 100 and near["chrf"] > near["bleu"]
    chinese = roundtrip_scores("这条河流穿过老城。", "这条河穿过老城。", "zh")
    assert 0 < chinese["bleu"] < 100 and 0 < chinese["chrf"] < 100
    original = Document(id="abc", text="The river runs through the old town.", source="a.jsonl", lang="en")
    aug = augmented_document(original, "The river flows through the old town.", "en", "zh", 0.8, near)
    assert aug.meta["roundtrip_bleu"] == near["bleu"] and aug.meta["roundtrip_chrf"] == near["chrf"]
