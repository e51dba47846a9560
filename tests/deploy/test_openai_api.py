"""The pure parts of the OpenAI-compatible front, without a server: request checks, the error shape
and Triton's errors mapped to statuses, chat templates, token scores and the legacy logprobs shape
lm-evaluation-harness reads, server-sent events, API keys."""

import asyncio
import json

import pytest
from tokenizers import Tokenizer

from fullchain.deploy.openai_front.api_errors import ApiError, RequestError, triton_error
from fullchain.deploy.openai_front.api_keys import API_KEYS_ENV, ApiKeyError, load_api_keys
from fullchain.deploy.openai_front.api_requests import ChatMessage, parse_chat_request, parse_completion_request
from fullchain.deploy.openai_front.api_responses import SSE_DONE, legacy_logprobs, sse_event
from fullchain.deploy.openai_front.chat_template import PLAIN_STOP, render_chat, template_from_files
from fullchain.deploy.openai_front.token_scores import score_tokens, token_texts
from fullchain.deploy.triton_config import GENERATE_INPUTS, LLM_INPUTS


def completion(**fields):
    return parse_completion_request({"model": "m", "prompt": "hi", **fields}, max_choices=8)


def refused(parse, body):
    with pytest.raises(RequestError) as e:
        parse(body, max_choices=8)
    return e.value


def test_completion_defaults_are_the_apis():
    request = completion()
    assert request.prompts == ("hi",) and request.n == 1 and not request.stream and not request.echo
    assert request.sampling.max_tokens == 16 and request.sampling.temperature == 1.0 and request.sampling.top_p == 1
    assert request.logprobs is None and request.sampling.stop == ()


@pytest.mark.parametrize("prompt,expected", [
    ("a", ("a",)), (["a", "b"], ("a", "b")), ([1, 2, 3], ((1, 2, 3),)), ([[1, 2], [3]], ((1, 2), (3,)))])
def test_the_four_prompt_forms(prompt, expected):
    assert completion(prompt=prompt).prompts == expected


@pytest.mark.parametrize("fields,param", [
    ({"temperature": 2.5}, "temperature"), ({"temperature": "hot"}, "temperature"), ({"top_p": 0}, "top_p"),
    ({"max_tokens": -1}, "max_tokens"), ({"max_tokens": 1.5}, "max_tokens"), ({"max_tokens": True}, "max_tokens"),
    ({"max_tokens": 0}, "max_tokens"), ({"n": 0}, "n"), ({"n": 9}, "n"), ({"logprobs": 6}, "logprobs"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"), ({"stop": [""]}, "stop"), ({"prompt": []}, "prompt"),
    ({"prompt": [1, "a"]}, "prompt"), ({"prompt": ""}, "prompt"), ({"prompt": [-1]}, "prompt"),
    ({"presence_penalty": 1}, "presence_penalty"), ({"logit_bias": {"1": 5}}, "logit_bias"),
    ({"best_of": 3}, "best_of"), ({"suffix": "x"}, "suffix"), ({"stream_options": {"include_usage": True}},
                                                                 "stream_options"),
    ({"frobnicate": 1}, "frobnicate"), ({"model": ""}, "model"), ({"seed": -1}, "seed")])
def test_bad_completion_fields_are_named(fields, param):
    error = refused(parse_completion_request, {"model": "m", "prompt": "hi", **fields})
    assert error.status == 400 and error.param == param
    assert error.body() == {"error": {"message": error.message, "type": "invalid_request_error", "param": param,
                                      "code": error.code}}


def test_prompts_times_n_is_bounded():
    assert refused(parse_completion_request, {"model": "m", "prompt": ["a"] * 3, "n": 3}).param == "n"
    assert len(completion(prompt=["a"] * 4, n=2).prompts) == 4


def test_echo_with_max_tokens_zero_scores_the_prompt():
    request = completion(echo=True, max_tokens=0, logprobs=1)
    assert request.echo and request.sampling.max_tokens == 0 and request.logprobs == 1


def test_lm_eval_loglikelihood_payload_is_accepted():
    # what lm-evaluation-harness 0.4's local-completions sends for a log-likelihood request (tokenized)
    payload = {"model": "m", "prompt": [[1, 5, 9, 4]], "temperature": 0, "max_tokens": 1, "logprobs": 1,
               "seed": 1234, "echo": True}
    request = parse_completion_request(payload, max_choices=8)
    assert request.prompts == ((1, 5, 9, 4),) and request.echo and request.logprobs == 1
    assert request.sampling.temperature == 0 and request.sampling.seed == 1234
    generate = {"prompt": ["Q: 1+1?"], "model": "m", "max_tokens": 32, "temperature": 0, "stop": ["\n\n"],
                "seed": 1234}
    assert parse_completion_request(generate, max_choices=8).sampling.stop == ("\n\n",)


def test_chat_request():
    request = parse_chat_request({"model": "m", "messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]}],
        "max_completion_tokens": 5, "logprobs": True, "top_logprobs": 2, "stream": True,
        "stream_options": {"include_usage": True}}, max_choices=8)
    assert request.messages == (ChatMessage("system", "Be terse."), ChatMessage("user", "Hello"))
    assert request.sampling.max_tokens == 5 and request.logprobs == 2 and request.include_usage
    assert parse_chat_request({"model": "m", "messages": [{"role": "user", "content": "x"}]},
                              max_choices=8).sampling.max_tokens is None


@pytest.mark.parametrize("fields,param", [
    ({"messages": []}, "messages"), ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0].content"),
    ({"tools": [{"type": "function"}]}, "tools"), ({"top_logprobs": 2}, "top_logprobs"),
    ({"response_format": {"type": "json_object"}}, "response_format")])
def test_bad_chat_fields_are_named(fields, param):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], **fields}
    assert refused(parse_chat_request, body).param == param


@pytest.mark.parametrize("message,status,param", [
    ("Exceeds maximum queue size", 503, None), ("queue full: 64 requests waiting", 503, None),
    ("Request timeout expired", 503, None), ("max_tokens: must be within 1..1024, got 5000", 400, "max_tokens"),
    ("text: the prompt has 2000 tokens; the model takes fewer than 1024", 400, "prompt"),
    ("generation failed: boom", 500, None), ("something: else", 500, None)])
def test_triton_errors_become_statuses(message, status, param):
    error = triton_error(message, tuple(LLM_INPUTS) + tuple(GENERATE_INPUTS))
    assert (error.status, error.param) == (status, param)
    assert error.body()["error"]["type"] == ("invalid_request_error" if status < 500 else "server_error")


def test_plain_template_when_the_tokenizer_has_none():
    template = template_from_files({"tokenizer_config.json": b'{"bos_token": "<s>"}'})
    messages = [ChatMessage("system", "Be terse."), ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello."),
                ChatMessage("user", "And?")]
    assert template.plain and template.extra_stop == (PLAIN_STOP,)
    assert render_chat(template, messages) == "System: Be terse.\nUser: Hi\nAssistant: Hello.\nUser: And?\nAssistant:"


def test_the_tokenizers_template_renders_as_transformers_does(tiny_lm, tmp_path):
    from transformers import AutoTokenizer

    source = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n"
              "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    tokenizer.chat_template = source
    tokenizer.save_pretrained(tmp_path)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    template = template_from_files(files)
    messages = [ChatMessage("system", "Be terse."), ChatMessage("user", "Hi")]
    expected = tokenizer.apply_chat_template([{"role": m.role, "content": m.content} for m in messages],
                                             tokenize=False, add_generation_prompt=True)
    assert not template.plain and render_chat(template, messages) == expected


def test_a_template_cannot_escape_the_sandbox():
    from fullchain.deploy.openai_front.chat_template import ChatTemplate, ChatTemplateError

    evil = ChatTemplate("{{ messages.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(ChatTemplateError):
        render_chat(evil, [ChatMessage("user", "x")])
    refusing = ChatTemplate("{{ raise_exception('only user turns') }}")
    with pytest.raises(ChatTemplateError, match="only user turns"):
        render_chat(refusing, [ChatMessage("user", "x")])


@pytest.fixture(scope="module")
def tokenizer(tiny_lm):
    return Tokenizer.from_file(f"{tiny_lm}/tokenizer.json")


def test_token_texts_join_to_the_decoded_text(tokenizer):
    text = "The river runs, 现在的河流 quiet."
    ids = tokenizer.encode(text).ids
    pieces = token_texts(tokenizer, ids)
    assert len(pieces) == len(ids) and "".join(pieces) == tokenizer.decode(ids)
    tail = token_texts(tokenizer, ids[4:], context=ids[:4])
    assert "".join(pieces[:4]) + "".join(tail) == tokenizer.decode(ids)


def test_legacy_logprobs_shape_as_lm_eval_reads_it(tokenizer):
    ids = tokenizer.encode("The river runs").ids
    logprobs = [None] + [-1.0 - i for i in range(len(ids) - 1)]
    top_ids = [None] + ids[1:]  # greedy: each token was the most likely one
    top_lp = [None] + logprobs[1:]
    scores = score_tokens(tokenizer, ids, logprobs, top_ids, top_lp, start_offset=0, alternatives=1)
    shape = legacy_logprobs(scores)
    assert set(shape) == {"tokens", "token_logprobs", "top_logprobs", "text_offset"}
    assert shape["token_logprobs"] == logprobs and shape["top_logprobs"][0] is None
    assert all(len(v) == len(ids) for v in shape.values())
    text = tokenizer.decode(ids)
    for token, offset in zip(shape["tokens"], shape["text_offset"]):
        assert text[offset:offset + len(token)] == token or not text[offset:offset + len(token)]
    # lm-evaluation-harness 0.4: sum(token_logprobs[ctxlen:-1]) and greedy iff each is its position's max
    ctxlen = 1
    assert sum(shape["token_logprobs"][ctxlen:-1]) == sum(logprobs[ctxlen:-1])
    assert all(lp == max(top.values()) for lp, top in zip(shape["token_logprobs"][ctxlen:-1],
                                                          shape["top_logprobs"][ctxlen:-1]))
    json.dumps(shape)  # JSON-able (None -> null)


def test_a_not_greedy_token_has_a_larger_alternative(tokenizer):
    ids = tokenizer.encode("river").ids
    scores = score_tokens(tokenizer, ids, [-3.0] * len(ids), [5] * len(ids), [-0.5] * len(ids), 0)
    assert all(max(top.values()) == -0.5 and len(top) == 2 for top in scores.top if ids[0] != 5)


def test_server_sent_events():
    assert sse_event({"a": "é"}) == 'data: {"a":"é"}\n\n'
    assert SSE_DONE == "data: [DONE]\n\n"


def test_api_keys_from_a_file_and_the_environment(tmp_path):
    path = tmp_path / "keys"
    path.write_text("# team keys\nkey-one-123456\n\nkey-two-123456\n")
    path.chmod(0o600)
    keys = load_api_keys(str(path), {API_KEYS_ENV: "env-key-123456, other-key-1234"})
    assert keys.required
    for good in ("key-one-123456", "key-two-123456", "env-key-123456", "other-key-1234"):
        assert keys.allows(f"Bearer {good}") and keys.allows(f"bearer {good}")
    for bad in (None, "", "key-one-123456", "Bearer key-one", "Bearer key-one-1234567", "Basic key-one-123456"):
        assert not keys.allows(bad)
    assert "key-one" not in repr(keys) and "env-key" not in repr(keys)
    assert not load_api_keys("", {}).required and load_api_keys("", {}).allows(None)


def test_api_key_files_that_are_refused(tmp_path):
    path = tmp_path / "keys"
    path.write_text("key-one-123456\n")
    path.chmod(0o644)
    with pytest.raises(ApiKeyError, match="chmod 600"):
        load_api_keys(str(path), {})
    path.chmod(0o600)
    path.write_text("short\n")
    with pytest.raises(ApiKeyError) as e:
        load_api_keys(str(path), {})
    assert "short" not in str(e.value)
    with pytest.raises(ApiKeyError, match="does not exist"):
        load_api_keys(str(tmp_path / "none"), {})


def test_api_error_statuses_have_their_types():
    assert ApiError("x", 503, code="queue_full").body()["error"]["type"] == "server_error"
    assert ApiError("x", 401).body()["error"]["type"] == "invalid_request_error"


class FakeBackend:
    """A backend that answers every request with the same pieces and records closed streams."""

    scores_tokens = True
    takes_token_ids = True

    def __init__(self, pieces, model="fake_llm"):
        self.pieces = pieces
        self.model = model
        self.requests = []
        self.closed = 0
        self.finished = 0

    async def stream(self, request):
        self.requests.append(request)
        try:
            for piece in self.pieces:
                await asyncio.sleep(0)
                yield piece
            self.finished += 1
        finally:
            self.closed += 1


def served(tokenizer, pieces, template=None):
    from fullchain.deploy.openai_front.chat_template import ChatTemplate, PLAIN_TEMPLATE
    from fullchain.deploy.openai_front.generation import ServedModel

    return ServedModel("m", FakeBackend(pieces), tokenizer, template or ChatTemplate(PLAIN_TEMPLATE, plain=True))


def test_echoed_logprobs_and_usage_from_the_models_pieces(tokenizer):
    from fullchain.deploy.openai_front.backends import Piece
    from fullchain.deploy.openai_front.generation import RequestRecord, complete

    prompt = tokenizer.encode("The river").ids
    new = tokenizer.encode("runs").ids[1:]
    first = Piece(text="", token_ids=[], prompt_token_ids=prompt, prompt_logprobs=[None] + [-1.0] * (len(prompt) - 1),
                  prompt_top_token_ids=[None] + prompt[1:], prompt_top_logprobs=[None] + [-1.0] * (len(prompt) - 1))
    last = Piece(text=tokenizer.decode(new), token_ids=new, token_logprobs=[-2.0] * len(new),
                 top_token_ids=[0] * len(new), top_logprobs=[-0.5] * len(new), finish_reason="length",
                 prompt_tokens=len(prompt), completion_tokens=len(new))
    model = served(tokenizer, [first, last])
    request = parse_completion_request({"model": "m", "prompt": [prompt, prompt], "n": 2, "echo": True,
                                        "logprobs": 1, "max_tokens": len(new), "seed": 5}, max_choices=8)
    body = asyncio.run(complete(model, request, RequestRecord()))
    assert [c["index"] for c in body["choices"]] == [0, 1, 2, 3]
    assert [r.sampling.seed for r in model.backend.requests] == [5, 6, 5, 6]  # seed + choice, per prompt
    choice = body["choices"][0]
    logprobs = choice["logprobs"]
    assert logprobs["token_logprobs"] == [None] + [-1.0] * (len(prompt) - 1) + [-2.0] * len(new)
    assert choice["text"] == tokenizer.decode(prompt) + tokenizer.decode(new)
    assert logprobs["text_offset"][len(prompt)] == len(tokenizer.decode(prompt))
    assert max(logprobs["top_logprobs"][-1].values()) == -0.5  # not greedy: a likelier token existed
    # the prompt counts once per prompt, the completions once per choice
    assert body["usage"] == {"prompt_tokens": 2 * len(prompt), "completion_tokens": 4 * len(new),
                             "total_tokens": 2 * len(prompt) + 4 * len(new)}
    assert model.backend.closed == 4


def test_a_stream_closed_early_closes_every_backend_stream(tokenizer):
    from fullchain.deploy.openai_front.backends import Piece
    from fullchain.deploy.openai_front.generation import RequestRecord, stream_completion

    pieces = [Piece(text="a", token_ids=[5])] * 50 + [Piece(text="", token_ids=[], finish_reason="length")]
    model = served(tokenizer, pieces)
    request = parse_completion_request({"model": "m", "prompt": "x", "n": 3, "stream": True}, max_choices=8)

    async def read_two_then_leave():
        source = await stream_completion(model, request, RequestRecord())
        events = [await source.events.__anext__() for _ in range(2)]
        await source.close()
        return events

    events = asyncio.run(read_two_then_leave())
    assert all(e.startswith("data: {") for e in events)
    assert model.backend.closed == 3 and model.backend.finished == 0


def test_a_stream_never_read_is_closed_too(tokenizer):
    from fullchain.deploy.openai_front.backends import Piece
    from fullchain.deploy.openai_front.generation import RequestRecord, stream_chat

    model = served(tokenizer, [Piece(text="a", token_ids=[5])] * 20 + [Piece("", [], "stop")])
    request = parse_chat_request({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True},
                                 max_choices=8)

    async def leave_before_the_first_event():
        source = await stream_chat(model, request, RequestRecord())
        await source.close()

    asyncio.run(leave_before_the_first_event())
    assert model.backend.closed == 1 and model.backend.finished == 0


def test_chat_prompts_go_as_token_ids_without_a_second_bos(tokenizer):
    from fullchain.deploy.openai_front.chat_template import ChatTemplate
    from fullchain.deploy.openai_front.generation import chat_prompt

    request = parse_chat_request({"model": "m", "messages": [{"role": "user", "content": "Hi"}], "stop": "x"},
                                 max_choices=8)
    template = ChatTemplate("{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}", bos_token="<s>")
    prompt, sampling = chat_prompt(served(tokenizer, [], template), request)
    assert list(prompt) == tokenizer.encode("<s>Hi", add_special_tokens=False).ids and sampling.stop == ("x",)
    assert list(prompt).count(tokenizer.token_to_id("<s>")) == 1
    text, sampling = chat_prompt(served(tokenizer, []), request)  # the plain template: text, its stop added
    assert text == "User: Hi\nAssistant:" and sampling.stop == ("x", PLAIN_STOP)


@pytest.mark.parametrize("code,status", [("DEADLINE_EXCEEDED", 504), ("UNAVAILABLE", 503), ("INTERNAL", 500)])
def test_grpc_failures_become_statuses(code, status):
    import grpc

    from fullchain.deploy.openai_front.backends import _rpc_error

    error = grpc.aio.AioRpcError(getattr(grpc.StatusCode, code), grpc.aio.Metadata(), grpc.aio.Metadata(),
                                 details="it went wrong")
    assert _rpc_error(error, "m_llm", 600).status == status
