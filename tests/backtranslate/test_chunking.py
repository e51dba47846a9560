from fullchain.pipelines.backtranslate.chunking import chunk_text, reassemble, split_sentences


def words(text):
    return len(text.split())


def rebuilt(chunks):
    return reassemble([c.text for c in chunks], [c.separator for c in chunks])


def test_sentences_split_after_latin_and_cjk_enders():
    assert split_sentences('One. "Two?" Three! four') == [("One.", " "), ('"Two?"', " "), ("Three!", " "), ("four", "")]
    assert split_sentences("第一句。第二句！第三句") == [("第一句。", ""), ("第二句！", ""), ("第三句", "")]
    assert split_sentences("e.g.the 3.5 mm") == [("e.g.the 3.5 mm", "")]


def test_chunks_pack_whole_sentences_within_the_limit():
    text = "a b c. d e. f g h i. j."
    chunks = chunk_text(text, words, 5)
    assert [c.text for c in chunks] == ["a b c. d e.", "f g h i. j."]
    assert all(words(c.text) <= 5 for c in chunks)
    assert rebuilt(chunks) == text


def test_chunks_never_cross_line_breaks_and_reassembly_keeps_them():
    text = "First line here.\n\nSecond paragraph. More of it.\nA list item"
    chunks = chunk_text(text, words, 100)
    assert [c.text for c in chunks] == ["First line here.", "Second paragraph. More of it.", "A list item"]
    assert rebuilt(chunks) == text


def test_overlong_sentences_are_cut_at_spaces_or_between_characters():
    long_sentence = " ".join(f"w{i}" for i in range(20))
    chunks = chunk_text(long_sentence, words, 6)
    assert all(words(c.text) <= 6 for c in chunks)
    assert rebuilt(chunks) == long_sentence
    cjk = "这条穿过老城的河流几百年来一直影响着两岸居民的生活"
    chunks = chunk_text(cjk, len, 8)
    assert all(len(c.text) <= 8 for c in chunks) and len(chunks) >= 3
    assert rebuilt(chunks) == cjk  # no spaces inserted into Chinese


def test_blank_text_has_no_chunks():
    assert chunk_text(" \n\n ", words, 10) == []
