"""`fullchain classifier train` as users run it: inputs read like a stage's, a table, a folder the stage loads."""

import json

from fullchain.cli import main
from fullchain.pipelines.classify.hashed_model import load_hashed_classifier
from tests.classify.test_training import sets


def write_jsonl(path, texts):
    with open(path, "w", encoding="utf-8") as fh:
        for text in texts:
            fh.write(json.dumps({"text": text}) + "\n")
        fh.write("not json\n")  # a bad record is skipped and counted, as a stage rejects it
    return str(path)


def test_train_writes_a_loadable_folder_and_prints_held_out_metrics(tmp_path, capsys):
    pos, neg = sets(30)
    out = tmp_path / "clf"
    status = main(["classifier", "train", "--positive", write_jsonl(tmp_path / "pos.jsonl", pos),
                   "--negative", write_jsonl(tmp_path / "neg.jsonl", neg), "--output", str(out),
                   "--positive-label", "good", "--features.hash-bits", "12", "--epochs", "20"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "ROC AUC" in captured.out and "precision" in captured.out and "recall" in captured.out
    assert "skipped unreadable records: 1 positive, 1 negative" in captured.err
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["positive_documents"] == 30 and config["heldout_metrics"]["positives"] == 6
    assert load_hashed_classifier(str(out)).labels == ("negative", "good")
    assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["classifier", "train", "--negative", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == ("fullchain classifier train: error: --positive is not set: give the "
                                               "positive documents (globs or folders)")
    assert main(["classifier", "train", "--positive", "a", "--negative", "b", "--output", "o",
                 "--holdout-fraction", "1.5"]) == 2
    assert "holdout_fraction must be within (0, 1)" in capsys.readouterr().err
