"""`python -m fullchain.evaluation.lm_eval_cli ARGS...`: the harness's own `lm_eval` command with the
fullchain backends registered, since lm-eval 0.4 has no plugin mechanism for models:

    python -m fullchain.evaluation.lm_eval_cli run --model fullchain-onnx --model_args path=out/export \
        --tasks fc_choice --include_path pipelines/front_door/evaluation/tasks
"""

from lm_eval.__main__ import cli_evaluate

from fullchain.evaluation.backends import register

if __name__ == "__main__":
    register()
    cli_evaluate()
