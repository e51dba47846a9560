"""The backends on the session tiny_lm: PyTorch FP32 and the ONNX FP32 graph score the same
log-likelihoods and generate the same text; a log-likelihood does not depend on its batch mates in
FP32; rolling windows add up to the whole document's log-likelihood."""

import numpy as np
import pytest
from lm_eval.api.instance import Instance

from fullchain.evaluation.harness_lm import BackendError
from fullchain.evaluation.hf_backend import HfLM
from fullchain.evaluation.model_spec import model_spec
from fullchain.evaluation.onnx_backend import OnnxLM
from fullchain.evaluation.scoring import log_softmax

PAIRS = [("The river that runs through", " the old market town"), ("", "Local historians"),
         ("Today the river is quieter,", " but it still plays an important role"), ("现在的河流", "安静了许多")]
TEXT = "The river that runs through the old market town has shaped the lives of the people. " * 4


def _requests(kind, args):
    return [Instance(request_type=kind, doc={}, arguments=a, idx=0) for a in args]


@pytest.fixture(scope="module")
def models(tiny_lm, eval_export):
    return HfLM(path=tiny_lm, batch_size=3), OnnxLM(path=str(eval_export), graph="fp32", batch_size=3)


def test_pytorch_and_the_onnx_fp32_graph_agree(models):
    hf, onnx = models
    hf_ll = hf.loglikelihood(_requests("loglikelihood", PAIRS), disable_tqdm=True)
    onnx_ll = onnx.loglikelihood(_requests("loglikelihood", PAIRS), disable_tqdm=True)
    assert max(abs(a - b) for (a, _), (b, _) in zip(hf_ll, onnx_ll)) < 1e-4
    gen = [("The river that runs", {"until": ["\n"], "max_gen_toks": 6}), ("Local", {"until": ["."], "max_gen_toks": 5})]
    assert hf.generate_until(_requests("generate_until", gen), disable_tqdm=True) == \
        onnx.generate_until(_requests("generate_until", gen), disable_tqdm=True)


def test_fp32_scores_do_not_depend_on_the_batch(eval_export, models):
    _, batched = models
    alone = OnnxLM(path=str(eval_export), graph="fp32", batch_size=1)
    together = batched.loglikelihood(_requests("loglikelihood", PAIRS), disable_tqdm=True)
    single = alone.loglikelihood(_requests("loglikelihood", PAIRS), disable_tqdm=True)
    assert max(abs(a - b) for (a, _), (b, _) in zip(together, single)) < 1e-5


def test_rolling_windows_add_up_to_the_documents_log_likelihood(models):
    _, onnx = models
    onnx.max_length = 16  # several windows for this text
    (rolled,) = onnx.loglikelihood_rolling(_requests("loglikelihood_rolling", [(TEXT,)]), disable_tqdm=True)
    onnx.max_length = 1024
    ids = [onnx.prefix_token_id] + onnx.tok_encode(TEXT)
    log_probs = log_softmax(onnx.batch_logits([ids[:-1]])[0])
    whole = float(log_probs[np.arange(len(ids) - 1), ids[1:]].sum())
    # windows of 16 tokens see less context than one pass over the whole text: close, not equal
    assert rolled < 0 and abs(rolled - whole) / abs(whole) < 0.2
    (full,) = onnx.loglikelihood_rolling(_requests("loglikelihood_rolling", [(TEXT,)]), disable_tqdm=True)
    assert full == pytest.approx(whole, abs=1e-3)


def test_a_model_folder_of_the_wrong_kind_is_one_line(tmp_path, eval_export):
    with pytest.raises(BackendError, match="neither an HF model folder .* nor an export folder"):
        model_spec(str(tmp_path))
    with pytest.raises(BackendError, match="#fp32 names the FP32 graph of an export folder"):
        model_spec(f"{tmp_path}#fp32")
    with pytest.raises(BackendError, match="http://HOST:PORT/NAME"):
        model_spec("http://127.0.0.1:8000", served_export=str(eval_export))
    assert model_spec(f"{eval_export}#fp32").label == "onnx-fp32"
    assert model_spec(str(eval_export)).label == "onnx-int8-dynamic"
    echo = model_spec(f"{eval_export}#echo")
    assert (echo.label, echo.args["batch_size"], echo.args["full_rows"]) == ("onnx-int8-dynamic-echo", 1, True)
