"""What every fullchain Python-backend model needs of Triton, in one place: the server's
site-packages, the runner of the exported ONNX graph, a request's inputs and its cancellation.

`fullchain publish` copies this file beside the model.py of each generation model and of
`<name>_llm`. Triton's Python backend imports a model as the module `<version>.model` of the
package that is its version folder, so model.py and this file's other siblings (request_checks.py,
the export's kv_decoding.py, continuous_batching.py, ...) import each other relatively
(`from . import kv_decoding`), and two versions never share a module. Standard library only at
import time: it runs before numpy may be imported.

The graph runs one of two ways (config parameter `onnx_runner`):
- `bls`: a Triton BLS call to the ONNX model `<name>` of the same version (the NGC image, where
  the onnxruntime backend runs it, on a GPU if configured);
- `onnxruntime`: an ONNX Runtime session in the model's process on `<name>/<version>/model.onnx`
  of the same repository (the wheel's server, which has no onnxruntime backend);
- `auto`: `bls` when `<name>` is ready in this server, else `onnxruntime`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

Run = Callable[[dict], dict]
# is_cancelled() is a round trip to the server process: ask at most this often per request
CANCEL_CHECK_INTERVAL_S = 0.1


def use_server_site_packages() -> None:
    """Put `fullchain serve`'s venv site-packages ($FULLCHAIN_SITE_PACKAGES) first on sys.path: the
    stub's embedded Python ignores PYTHONPATH, and numpy must come from there (numpy<2), not from
    the base installation. Unset in the NGC image, where the image's own packages are used."""
    for path in reversed(os.environ.get("FULLCHAIN_SITE_PACKAGES", "").split(os.pathsep)):
        if path and path not in sys.path:
            sys.path.insert(0, path)


def graph_runner(model: str, params: dict[str, str], version_dir: str, output_names: list[str],
                 session_runner: Callable[[Any], Run]) -> Run:
    """The runner of the ONNX model `params["onnx_model"]` (same version as `version_dir`) that
    `params["onnx_runner"]` chooses; `session_runner` is kv_decoding.session_runner. Logs the choice
    under `model`'s name; RuntimeError when neither way can run the graph."""
    import triton_python_backend_utils as pb_utils

    onnx_model, version = params["onnx_model"], int(os.path.basename(version_dir))
    choice = params.get("onnx_runner", "auto")
    if choice == "bls" or (choice == "auto" and pb_utils.is_model_ready(onnx_model, str(version))):
        pb_utils.Logger.log_info(f"{model}: running {onnx_model} v{version} through BLS")
        return _bls_runner(onnx_model, version, output_names)
    path = os.path.join(os.path.dirname(os.path.dirname(version_dir)), onnx_model, str(version), "model.onnx")
    if not os.path.isfile(path):
        raise RuntimeError(f"the ONNX model {onnx_model} v{version} is not ready in this server "
                           f"and {path} does not exist")
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeError(f"the ONNX model {onnx_model} v{version} is not ready in this server "
                           "and onnxruntime is not installed in the Python backend's environment") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(params.get("ort_threads", 1))
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    pb_utils.Logger.log_info(f"{model}: running {path} with ONNX Runtime in the Python backend")
    return session_runner(session)


def _bls_runner(onnx_model: str, version: int, output_names: list[str]) -> Run:
    import triton_python_backend_utils as pb_utils

    def run(feeds: dict) -> dict:
        request = pb_utils.InferenceRequest(
            model_name=onnx_model, model_version=version, requested_output_names=output_names,
            inputs=[pb_utils.Tensor(name, value) for name, value in feeds.items()])
        response = request.exec()
        if response.has_error():
            raise RuntimeError(f"{onnx_model}: {response.error().message()}")
        return {name: pb_utils.get_output_tensor_by_name(response, name).as_numpy() for name in output_names}

    return run


def stop_token_ids(export: dict[str, Any]) -> tuple[int, ...]:
    """The tokens that end a sequence: export.json's stop_token_ids, else its eos_token_id(s)."""
    stops = export.get("stop_token_ids")
    if stops is None:
        eos = export.get("eos_token_id")
        stops = [] if eos is None else eos if isinstance(eos, list) else [eos]
    return tuple(int(t) for t in stops)


def input_values(request: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The request's inputs among `names` as numpy arrays (the absent ones left out)."""
    import triton_python_backend_utils as pb_utils

    values = {}
    for name in names:
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        if tensor is not None:
            values[name] = tensor.as_numpy()
    return values


def sampling_params(kv: Any, checked: Any, stop_token_ids: tuple[int, ...]) -> Any:
    """kv_decoding.SamplingParams of a checked request (request_checks' Request or an LlmRequest)."""
    return kv.SamplingParams(max_tokens=checked.max_tokens, temperature=checked.temperature, top_k=checked.top_k,
                             top_p=checked.top_p, seed=checked.seed, stop_token_ids=stop_token_ids)


class ThrottledCancelCheck:
    """The request's is_cancelled(), asked at most every CANCEL_CHECK_INTERVAL_S (a decoding loop asks
    at every step; each answer costs an exchange with the server process)."""

    def __init__(self, request: Any):
        self.request = request
        self.next_check = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now < self.next_check:
            return False
        self.next_check = now + CANCEL_CHECK_INTERVAL_S
        return self.request.is_cancelled()
