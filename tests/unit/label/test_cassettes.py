"""Recorded OpenAI wire-format cassettes, one per task shape, replayed with no server.

Replays run at concurrency 1 so requests come in the recorded order; requests match on
method, host, port and path (not the body: a prompt edit does not break a replay). To
re-record, see tests/cassettes/README.md.
"""

from __future__ import annotations

import json
from contextlib import nullcontext

import pytest
import yaml
from openai.types.chat import ChatCompletion

from labelloop.testing.stub_llm import StubServer
from tests.support.llm import SHAPE_ITEMS, SHAPE_SCRIPT, SHAPE_VALUES, label, make_project
from tests.support.paths import CASSETTES

pytestmark = pytest.mark.usefixtures("no_key")

#: the stub's fixed address while recording; replays send requests to the same URL
PORT = 48611
API_BASE = f"http://127.0.0.1:{PORT}/v1"
SHAPES = ["single", "multi", "spans", "turns"]
#: per shape: the items and their script; "single" also records a re-ask
ITEMS = {
    "single": [
        SHAPE_ITEMS["single"],
        {"id": "s-2", "text": "My card has not arrived yet."},
    ],
    "multi": [SHAPE_ITEMS["multi"]],
    "spans": [SHAPE_ITEMS["spans"]],
    "turns": [SHAPE_ITEMS["turns"]],
}
SCRIPT = {
    **SHAPE_SCRIPT,
    "s-2": {"label": "card_arrival", "out_of_set": "card_missing", "out_of_set_attempts": 1},
}
VALUES = {SHAPE_ITEMS[k]["id"]: v for k, v in SHAPE_VALUES.items()} | {
    "s-2": {"label": "card_arrival"}
}


@pytest.fixture
def vcr_config(record_mode):
    return {
        "record_mode": record_mode,  # "none" unless --record-mode says otherwise
        "filter_headers": ["authorization", "api-key", "x-api-key", "openai-organization"],
        "match_on": ["method", "scheme", "host", "port", "path"],
        "decode_compressed_response": True,
        "allow_playback_repeats": False,
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir():
    return str(CASSETTES)


@pytest.fixture
def default_cassette_name(request):
    return f"{request.node.callspec.params['shape']}.yaml"


@pytest.mark.vcr
@pytest.mark.block_network
@pytest.mark.parametrize("shape", SHAPES)
def test_replay_labels_each_task_shape(tmp_path, shape, vcr, record_mode):
    project = make_project(tmp_path, ITEMS[shape], shape)
    recording = record_mode != "none"
    with StubServer(SCRIPT, port=PORT) if recording else nullcontext():
        run = label(project, API_BASE, concurrency=1)
    assert (run.labeled, run.failed) == (len(ITEMS[shape]), 0)
    got = project.store.latest_suggestions(model="openai/stub-model")
    assert {i: s.value.as_dict() for i, s in got.items()} == {
        i["id"]: VALUES[i["id"]] for i in ITEMS[shape]
    }
    if not recording:
        assert vcr.play_count == len(vcr.data) and vcr.all_played


def interactions(shape: str) -> list[dict]:
    return yaml.safe_load((CASSETTES / f"{shape}.yaml").read_text())["interactions"]


@pytest.mark.parametrize("shape", SHAPES)
def test_cassettes_are_openai_chat_completions_without_credentials(shape):
    recorded = interactions(shape)
    assert recorded
    for interaction in recorded:
        request, response = interaction["request"], interaction["response"]
        assert request["method"] == "POST" and request["uri"] == f"{API_BASE}/chat/completions"
        headers = {k.lower() for k in request["headers"]}
        assert not headers & {"authorization", "api-key", "x-api-key", "openai-organization"}
        assert response["status"]["code"] == 200
        completion = ChatCompletion.model_validate(json.loads(response["body"]["string"]))
        assert completion.choices[0].message.content
        body = json.loads(request["body"])
        assert body["response_format"]["type"] == "json_schema" and body["logprobs"] is True


def test_single_cassette_holds_a_reask_with_the_validation_error():
    *_, reask = interactions("single")
    messages = json.loads(reask["request"]["body"])["messages"]
    assert messages[-2]["role"] == "assistant" and "card_missing" in messages[-2]["content"]
    assert "Unknown label 'card_missing'" in messages[-1]["content"]
