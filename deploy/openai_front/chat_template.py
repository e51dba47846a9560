"""Chat messages rendered into one prompt with the model's chat template (Jinja), as Hugging Face's
`apply_chat_template(messages, add_generation_prompt=True)` renders it.

The template comes from the tokenizer files the export copied into the repository:
`chat_template.jinja`, else `tokenizer_config.json`'s `chat_template` (a string, or a list of named
templates of which `default` is used). A model without one gets PLAIN_TEMPLATE:

    System: You are terse.
    User: Hello
    Assistant: Hi.
    User: And now?
    Assistant:

with PLAIN_STOP as an extra stop string, so that a base model does not write the user's next turn.
Templates run in Jinja's sandbox: a template is data from the model folder, not trusted code.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from fullchain.deploy.openai_front.api_requests import ChatMessage

PLAIN_TEMPLATE = ("{% for m in messages %}{{ m.role | capitalize }}: {{ m.content }}\n{% endfor %}"
                  "{% if add_generation_prompt %}Assistant:{% endif %}")
PLAIN_STOP = "\nUser:"


class ChatTemplateError(ValueError):
    """A template that does not parse, or refuses the conversation (its raise_exception)."""


@dataclass(frozen=True)
class ChatTemplate:
    """A compiled chat template with the special tokens it may refer to."""

    source: str
    bos_token: str = ""
    eos_token: str = ""
    plain: bool = False

    @property
    def extra_stop(self) -> tuple[str, ...]:
        """Stop strings the template implies (the plain template's next user turn)."""
        return (PLAIN_STOP,) if self.plain else ()


def _token_text(value: Any) -> str:
    # tokenizer_config.json writes special tokens as strings or as {"content": ...} objects
    if isinstance(value, dict):
        return str(value.get("content", ""))
    return value if isinstance(value, str) else ""


def template_from_files(files: dict[str, bytes]) -> ChatTemplate:
    """The chat template of a tokenizer folder given as file name -> contents; PLAIN_TEMPLATE when it
    has none."""
    config: dict[str, Any] = {}
    if "tokenizer_config.json" in files:
        config = json.loads(files["tokenizer_config.json"].decode("utf-8"))
    bos, eos = _token_text(config.get("bos_token")), _token_text(config.get("eos_token"))
    source = files["chat_template.jinja"].decode("utf-8") if "chat_template.jinja" in files else None
    if source is None:
        named = config.get("chat_template")
        if isinstance(named, list):
            named = next((t.get("template") for t in named if isinstance(t, dict) and t.get("name") == "default"),
                         None)
        source = named if isinstance(named, str) and named.strip() else None
    if source is None:
        return ChatTemplate(PLAIN_TEMPLATE, bos, eos, plain=True)
    return ChatTemplate(source, bos, eos)


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(message)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


_ENV = _environment()


@functools.lru_cache(maxsize=16)
def _compiled(source: str):
    # a template is compiled once per source, not once per request
    try:
        return _ENV.from_string(source)
    except TemplateError as e:
        raise ChatTemplateError(f"the model's chat template does not parse: {e}") from None


def render_chat(template: ChatTemplate, messages: Sequence[ChatMessage]) -> str:
    """The prompt of a conversation, ending where the assistant's reply begins."""
    turns = [{"role": m.role, "content": m.content, **({"name": m.name} if m.name else {})} for m in messages]
    compiled = _compiled(template.source)
    try:
        return compiled.render(
            messages=turns, add_generation_prompt=True, bos_token=template.bos_token, eos_token=template.eos_token)
    except ChatTemplateError:
        raise
    except TemplateError as e:
        raise ChatTemplateError(f"the model's chat template failed: {e}") from None
