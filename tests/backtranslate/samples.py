"""English documents and fake translators for the backtranslate tests."""

from __future__ import annotations

from fullchain.pipelines.document import Document

SENTENCES = [
    "The river that runs through the old market town has shaped the lives of its people for centuries.",
    "Local historians have gathered letters, parish records and diaries about the great flood.",
    "Today the river is quieter, but it still plays an important role in the life of the town.",
    "Every spring the farmers wait for the water to rise before they plant their fields.",
    "Children learn to swim in the shallow bends where the current slows down near the bridge.",
    "The mill that once stood by the weir was turned into a museum about the history of the valley.",
]


def english_documents(n: int) -> list[Document]:
    """`n` distinct English documents of two paragraphs, with language set as clean would."""
    docs = []
    for i in range(n):
        first = " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(3))
        second = SENTENCES[(i + 3) % len(SENTENCES)]
        docs.append(Document(id=f"doc-{i:03d}", text=f"{first} It was number {i}.\n\n{second}",
                             source="corpus.jsonl", lang="en", meta={"url": f"https://example.org/{i}"}))
    return docs


class FakeTranslator:
    """A translator whose round trip is `edit(text)`: forward marks the text, backward edits it."""

    def __init__(self, edit=lambda text: text):
        self._edit = edit

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def translate(self, texts: list[str], source_lang: str, target_lang: str) -> list[str]:
        if source_lang == "en":
            return [f"[{target_lang}] {text}" for text in texts]
        return [self._edit(text.removeprefix(f"[{source_lang}] ")) for text in texts]


def slight_edit(text: str) -> str:
    """A paraphrase-like change: a few words swapped for synonyms."""
    for old, new in (("river", "stream"), ("old", "ancient"), ("people", "residents"), ("town", "village"),
                     ("important", "major"), ("history", "past"), ("water", "flood water")):
        text = text.replace(old, new)
    return text


def to_chinese(text: str) -> str:
    return "这条穿过老城的河流，几百年来一直影响着两岸居民的生活。"


def unrelated(text: str) -> str:
    return "Quarterly revenue grew by seven percent thanks to strong demand for cloud software products."
