"""The deploy commands' argument handling: YAML + flags into one config, one-line errors, status 2."""

import pytest

from fullchain.deploy.cli import build_parser, main


def test_publish_reads_yaml_and_flags(export_dir, tmp_path, capsys):
    config = tmp_path / "publish.yaml"
    config.write_text("name: from-yaml\nbatching:\n  max_batch_size: 4\n  preferred_batch_sizes: [2, 4]\n"
                      "generate:\n  response_cache: false\n")
    repo = tmp_path / "repo"
    assert main("publish", [str(export_dir), "--config", str(config), "--repository", str(repo),
                            "--generate.stream-model", "false", "--version", "5"]) == 0
    assert capsys.readouterr().out.strip() == \
        f"published from-yaml version 5 to {repo}: from-yaml, from-yaml_generate, from-yaml_llm"
    text = (repo / "from-yaml" / "config.pbtxt").read_text()
    assert "max_batch_size: 4" in text and "preferred_batch_size: [ 2, 4 ]" in text


@pytest.mark.parametrize("command,argv,message", [
    ("publish", ["/no/such/export", "--repository", "r", "--name", "m"], "export folder /no/such/export does not exist"),
    ("publish", ["x", "--repository", "r", "--name", "m", "--version", "two"], "'version' must be int | null"),
    ("serve", [], "no repository given"),
    ("serve", ["--repository", "r", "--http-port", "8001"], "must differ"),
    ("generate", ["hi", "--protocol", "udp"], "protocol must be 'http' or 'grpc'"),
    ("generate", ["hi", "--top-p", "0"], "top_p must be within (0, 1]"),
    ("loadtest", ["--concurrency", "[0, 2]"], "concurrency must be a list of positive integers"),
])
def test_errors_are_one_line_with_status_2(command, argv, message, capsys):
    assert main(command, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fullchain {command}: error: ") and message in err
    assert err.count("\n") == 1


def test_a_bare_boolean_flag_means_true():
    args = build_parser("generate").parse_args(["hi", "--stream"])
    assert vars(args)["stream"] == "true"
    args = build_parser("generate").parse_args(["hi", "--stream", "false"])
    assert vars(args)["stream"] == "false"
