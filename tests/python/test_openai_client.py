"""The official `openai` Python client against greenlight's /v1 API, unchanged."""

import openai
import pytest


@pytest.fixture()
def client(server_url):
    # A local server needs no key; the client insists on one being set.
    return openai.OpenAI(base_url=f"{server_url}/v1", api_key="not-needed", max_retries=0)


QUESTION = "How does blue/green deployment work here?"


def test_models_list(client):
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert ids == ["greenlight-offline"]
    assert client.models.retrieve("greenlight-offline").id == "greenlight-offline"


def test_non_streaming_completion(client):
    completion = client.chat.completions.create(
        model="greenlight-offline",
        messages=[{"role": "user", "content": QUESTION}],
    )
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    assert len(choice.message.content) > 20
    assert completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_streaming_completion_with_usage(client):
    stream = client.chat.completions.create(
        model="greenlight-offline",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": QUESTION},
        ],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=200,
    )
    text, finish, usage, ids = "", None, None, set()
    for chunk in stream:
        ids.add(chunk.id)
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert len(ids) == 1, "every chunk has the completion's id"
    assert len(text) > 20
    assert finish in ("stop", "length")
    assert usage is not None and usage.completion_tokens > 0


def test_invalid_request_raises_bad_request_naming_the_field(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="greenlight-offline",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=10_000_000,
        )
    assert caught.value.status_code == 400
    body = caught.value.body
    assert body["param"] == "max_tokens"
    assert "max_tokens" in body["message"] and "MAX_OUTPUT_TOKENS" in body["message"]

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="greenlight-offline",
            messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
        )
    assert caught.value.body["param"] == "messages[1].role"


def test_streaming_invalid_request_raises_before_the_stream(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="greenlight-offline",
            messages=[{"role": "user", "content": ""}],
            stream=True,
        )
    assert caught.value.body["param"] == "messages[0].content"
