"""The negatives `fullchain run`'s quality-classifier stage trains on: generated, seeded, of the asked mix."""

from fullchain.chain.classify_stage_runs import negative_documents
from fullchain.pipelines.real_text.planting import JUNK_KINDS

DONORS = ["The hacker wrote a small program that printed the jargon of the lab on every terminal. " * 3]


def test_negatives_are_seeded_and_half_template_text_when_asked():
    with_template = negative_documents(20, 0, DONORS, with_template=True)
    assert with_template == negative_documents(20, 0, DONORS, with_template=True)
    assert with_template != negative_documents(20, 1, DONORS, with_template=True)
    assert len(with_template) == 20 and len({r["id"] for r in with_template}) == 20
    junk_only = negative_documents(20, 0, DONORS, with_template=False)
    # the template half is prose of many sentences; every junk kind in turn fills the rest
    template = [r["text"] for r in with_template[10:]]
    assert all(text.count(".") + text.count("。") >= 5 for text in template)
    assert not set(template) & {r["text"] for r in junk_only}
    assert len(junk_only) == 20 and len(JUNK_KINDS) == 5
