"""Task files in the harness's YAML format: the shipped suite, a user's task with local data, and one
clear line for an unknown task or a wrong file."""

import json

import pytest

from fullchain.evaluation.task_files import SUITE_NAME, TaskFileError, resolve_tasks, suite_tasks

USER_TASK = """task: my_capitals
dataset_path: json
dataset_kwargs:
  data_files:
    test: capitals.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "The capital of {{country}} is"
doc_to_choice: "{{choices}}"
doc_to_target: answer
metric_list:
  - metric: acc
"""


def test_the_suite_has_each_kind_of_task():
    tasks = {t["task"]: t for t in resolve_tasks([SUITE_NAME])}
    assert set(tasks) == set(suite_tasks())
    kinds = {t["output_type"] for t in tasks.values()}
    assert kinds == {"multiple_choice", "loglikelihood", "generate_until", "loglikelihood_rolling"}
    assert {"fc_ppl_en", "fc_ppl_fr", "fc_ppl_de", "fc_ppl_es"} <= set(tasks)
    metrics = {m["metric"] if isinstance(m["metric"], str) else m["metric"].__name__
               for m in tasks["fc_answer"]["metric_list"]}
    assert metrics == {"exact_match", "bleu", "chrf", "rougeL"}


def test_a_users_task_reads_its_data_beside_its_yaml(tmp_path):
    (tmp_path / "capitals.jsonl").write_text(json.dumps({"country": "France", "choices": [" Paris", " Rome"],
                                                         "answer": 0}) + "\n")
    (tmp_path / "capitals.yaml").write_text(USER_TASK)
    (task,) = resolve_tasks(["my_capitals"], [str(tmp_path)])
    assert task["dataset_kwargs"]["data_files"]["test"] == str(tmp_path / "capitals.jsonl")


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("doc_to_text", "doc_to_txt"), "unknown field 'doc_to_txt' \\(did you mean doc_to_text\\?\\)"),
    (lambda t: t.replace("multiple_choice", "multiple_choices"), "output_type 'multiple_choices' is not one of"),
    (lambda t: t.replace("capitals.jsonl", "missing.jsonl"), "data file .*missing.jsonl \\(split 'test'\\) does not exist"),
    (lambda t: t.replace("dataset_path: json", "dataset_path: cais/mmlu"), "must be a local format"),
    (lambda t: t + "  - [oops\n", "not valid YAML"),
])
def test_a_wrong_task_file_is_one_line_naming_it(tmp_path, edit, message):
    (tmp_path / "capitals.jsonl").write_text("{}\n")
    (tmp_path / "capitals.yaml").write_text(edit(USER_TASK))
    with pytest.raises(TaskFileError, match=message) as error:
        resolve_tasks(["my_capitals"], [str(tmp_path)])
    assert "\n" not in str(error.value) and "capitals.yaml" in str(error.value)


def test_an_unknown_task_is_one_line_with_a_suggestion():
    with pytest.raises(TaskFileError, match="unknown task 'fc_choise' \\(did you mean fc_choice\\?\\)"):
        resolve_tasks(["fc_choise"])
