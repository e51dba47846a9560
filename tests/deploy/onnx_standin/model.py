"""Test stand-in for Triton's onnxruntime backend, which the wheel's server lacks: a Python-backend
model that runs `model.onnx` of its version folder with ONNX Runtime, one request at a time, so
that the generation model's BLS path (`onnx_runner: bls`) can be tested against a real server."""

import os
import sys

for _path in reversed(os.environ.get("FULLCHAIN_SITE_PACKAGES", "").split(os.pathsep)):
    if _path and _path not in sys.path:
        sys.path.insert(0, _path)

import onnxruntime  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    """The ONNX graph behind the same inputs and outputs as the onnxruntime_onnx config."""

    def initialize(self, args):
        """Open the graph of this version."""
        folder = os.path.join(args["model_repository"], args["model_version"])
        self.session = onnxruntime.InferenceSession(os.path.join(folder, "model.onnx"),
                                                    providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def execute(self, requests):
        """Run each request's feeds through the graph."""
        responses = []
        for request in requests:
            feeds = {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.inputs}
            values = self.session.run(self.outputs, feeds)
            responses.append(pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor(n, v) for n, v in zip(self.outputs, values)]))
        return responses
