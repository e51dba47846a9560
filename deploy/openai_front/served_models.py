"""Which published models the front serves, and their tokenizer and chat template from the model
repository (a local folder or an fsspec URL, as Triton reads it).

A published name is served when Triton has `<name>_llm` ready (the continuous-batching model), else
when it has `<name>_generate_stream` ready. The tokenizer files come from the served model's
highest version folder, where `fullchain publish` copied the export's tokenizer files.
"""

from __future__ import annotations

from dataclasses import dataclass

import tritonclient.grpc.aio as grpcaio
from tokenizers import Tokenizer
from tritonclient.utils import InferenceServerException

from fullchain.deploy.openai_front.backends import GenerateStreamBackend, LlmBackend, TritonBackend
from fullchain.deploy.openai_front.chat_template import template_from_files
from fullchain.deploy.openai_front.generation import ServedModel
from fullchain.deploy.repository import RepositoryError, list_models, model_versions, repository_fs
from fullchain.deploy.triton_config import llm_model_name, stream_model_name

LLM_SUFFIX = "_llm"
STREAM_SUFFIX = "_generate_stream"
TEMPLATE_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


class ServedModelError(RuntimeError):
    """No model to serve, or a served model's files cannot be read; the message is one line."""


@dataclass(frozen=True)
class ModelChoice:
    """A published name and the Triton model the front sends its requests to."""

    name: str
    triton_model: str
    continuous_batching: bool


def published_names(models: list[str]) -> list[str]:
    """Published names that have a streaming model in the repository, sorted."""
    names = {m[: -len(LLM_SUFFIX)] for m in models if m.endswith(LLM_SUFFIX)}
    names |= {m[: -len(STREAM_SUFFIX)] for m in models if m.endswith(STREAM_SUFFIX)}
    return sorted(names)


def choose_models(names: list[str], ready: set[str], wanted: str) -> list[ModelChoice]:
    """The models to serve: `wanted` alone when given, else every name with a ready streaming model;
    `<name>_llm` over `<name>_generate_stream`."""
    chosen = []
    for name in ([wanted] if wanted else names):
        if llm_model_name(name) in ready:
            chosen.append(ModelChoice(name, llm_model_name(name), True))
        elif stream_model_name(name) in ready:
            chosen.append(ModelChoice(name, stream_model_name(name), False))
        elif wanted:
            raise ServedModelError(f"neither {llm_model_name(name)} nor {stream_model_name(name)} is ready in "
                                   "Triton (load one, or publish with --generate.stream-model true)")
    if not chosen:
        raise ServedModelError(f"no published model has {LLM_SUFFIX} or {STREAM_SUFFIX} ready in Triton "
                               f"(repository models with one: {', '.join(names) or 'none'})")
    return chosen


def read_tokenizer_files(repository: str, model: str) -> dict[str, bytes]:
    """TEMPLATE_FILES present in the highest version folder of `model`."""
    fs, root = repository_fs(repository)
    versions = model_versions(fs, f"{root}/{model}")
    if not versions:
        raise ServedModelError(f"{repository}/{model} has no version folder")
    folder = f"{root}/{model}/{versions[-1]}"
    files = {name: fs.cat_file(f"{folder}/{name}") for name in TEMPLATE_FILES if fs.isfile(f"{folder}/{name}")}
    if "tokenizer.json" not in files:
        raise ServedModelError(f"{folder} has no tokenizer.json")
    return files


async def load_served_models(client: grpcaio.InferenceServerClient, repository: str, wanted: str,
                             timeout_s: float) -> dict[str, ServedModel]:
    """Published name -> ServedModel for every model the front serves."""
    try:
        names = published_names(list(list_models(repository)))
    except RepositoryError as e:
        raise ServedModelError(str(e)) from None
    ready = set()
    for name in ([wanted] if wanted else names):
        for model in (llm_model_name(name), stream_model_name(name)):
            try:
                if await client.is_model_ready(model):
                    ready.add(model)
            except InferenceServerException as e:
                raise ServedModelError(f"cannot ask Triton whether {model} is ready: {e.message()}") from None
    served = {}
    for choice in choose_models(names, ready, wanted):
        files = read_tokenizer_files(repository, choice.triton_model)
        backend_class: type[TritonBackend] = LlmBackend if choice.continuous_batching else GenerateStreamBackend
        served[choice.name] = ServedModel(
            name=choice.name, backend=backend_class(client, choice.name, timeout_s),
            tokenizer=Tokenizer.from_str(files["tokenizer.json"].decode("utf-8")),
            template=template_from_files(files))
    return served

