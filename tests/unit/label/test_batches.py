"""Batch files, prices, the batch clients against the stub's Files and Batches endpoints, and
a collection killed halfway."""

from __future__ import annotations

import json

import openai
import pytest

from labelloop import loop
from labelloop.label.providers.batch_api import LiteLLMBatches, OpenAIBatches
from labelloop.label.providers.batch_files import batch_price, read_results
from labelloop.label.providers.wire import price
from labelloop.project import init_project
from labelloop.store import Store
from labelloop.testing.stub_llm import StubServer
from tests.support.judging import PAIRWISE
from tests.support.llm import MODEL, label, make_project, suggestions, write_jsonl

pytestmark = pytest.mark.usefixtures("no_key")


def test_batch_price_uses_litellms_batch_rates_else_half_the_live_price():
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    # gpt-4o-mini: $0.075 / $0.30 per million tokens in batches ($0.15 / $0.60 live)
    assert batch_price("gpt-4o-mini", usage) == pytest.approx(1000 * 7.5e-8 + 100 * 3e-7)
    assert batch_price("gpt-4o-mini", usage) == pytest.approx(price("gpt-4o-mini", usage) / 2)
    assert batch_price("openai/stub-model", usage) == 0.0  # unpriced


def test_result_lines_give_the_answer_text_or_why_there_is_none():
    ok = {"choices": [{"message": {"content": "{}"}}], "usage": {"prompt_tokens": 3}}
    lines = [
        {"custom_id": "k1", "response": {"status_code": 200, "body": ok}, "error": None},
        {
            "custom_id": "k2",
            "response": {"status_code": 429, "body": {"error": {"message": "slow down"}}},
        },
        {"custom_id": "k3", "response": None, "error": {"code": "x", "message": "expired"}},
    ]
    got = read_results("\n".join(json.dumps(line) for line in lines))
    assert json.loads(got[0].response) == ok and got[0].usage == {"prompt_tokens": 3}
    assert (got[1].response, got[1].error) == (None, "HTTP 429: slow down")
    assert (got[2].response, got[2].error) == (None, "expired")


@pytest.mark.parametrize("client", ["openai", "litellm"])
def test_both_clients_submit_list_and_read_a_batch_on_the_stub(client):
    line = {
        "custom_id": "k1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "stub-model", "messages": [{"role": "user", "content": "hello"}]},
    }
    with StubServer() as stub:
        api = OpenAIBatches(stub.base_url) if client == "openai" else None
        api = api or LiteLLMBatches("openai", stub.base_url)
        made = []
        for n in range(3):
            file_id = api.upload((json.dumps(line) + "\n").encode(), "lines.jsonl")
            made.append(api.create(file_id, {"labelloop_batch": f"L{n}"}))
        assert made[0]["status"] == "validating"
        listed = list(api.batches())
        assert [b["metadata"]["labelloop_batch"] for b in listed] == ["L2", "L1", "L0"]
        done = api.retrieve(made[0]["id"])
        assert done["status"] == "completed" and done["request_counts"]["completed"] == 1
        [result] = read_results(api.content(done["output_file_id"]))
        assert result.custom_id == "k1" and "choices" in json.loads(result.response)
        api.retrieve(made[0]["id"])
        assert len(stub.calls) == 3  # each batch's line answered once, however often looked up


def test_the_stub_pages_batches_as_openai_does():
    with StubServer() as stub:
        sdk = openai.OpenAI(api_key="x", base_url=stub.base_url)
        file_id = sdk.files.create(file=("f.jsonl", b""), purpose="batch").id
        ids = [
            sdk.batches.create(
                input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
            ).id
            for _ in range(5)
        ]
        first = sdk.batches.list(limit=2)
        assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
        assert [b.id for b in sdk.batches.list(limit=2)] == ids[::-1]  # the SDK pages on
        assert sdk.batches.cancel(ids[0]).status in ("cancelled", "completed")


def test_a_collection_killed_after_logging_the_answers_logs_nothing_twice(tmp_path, monkeypatch):
    items = [{"id": f"i{n}", "text": f"message {n}"} for n in range(4)]
    project = make_project(tmp_path, items)
    with StubServer() as stub:
        loop.label_batch(project, MODEL, api_base=stub.base_url)
        real = Store.update_batch_job

        def killed(self, batch_id, **values):
            if "collected_at" in values:
                raise KeyboardInterrupt
            return real(self, batch_id, **values)

        monkeypatch.setattr(Store, "update_batch_job", killed)
        with pytest.raises(KeyboardInterrupt):
            loop.collect_batches(project, api_base=stub.base_url)
        monkeypatch.setattr(Store, "update_batch_job", real)
        [again] = loop.collect_batches(project, api_base=stub.base_url)
        assert again.collected[0].labeled == 0  # the first collection stored them all
        assert label(project, stub.base_url).calls == 0
    totals = project.store.llm_totals_by_model()[MODEL]
    assert totals["calls"] == 4 and stub.calls.counts() == dict.fromkeys(
        ["i0", "i1", "i2", "i3"], 1
    )


def test_a_judged_item_asks_both_orders_in_the_batch(tmp_path):
    """Pairwise items: the batch carries each item's reversed-order request too (``KEY:swap``),
    and the verdicts equal a live run's."""
    replies = {"a": "Paris is the capital.", "b": "I am not sure, maybe Lyon."}
    rows = [
        {"id": f"j{n}", "messages": [{"role": "user", "content": f"Capital of France? {n}"}]}
        | {"replies": [{"id": k, "content": v} for k, v in replies.items()]}
        for n in range(3)
    ]
    script = {r["id"]: {"replies": replies, "verdict": "a", "confidence": 0.8} for r in rows}
    projects = []
    for name in ("live", "batch"):
        (tmp_path / name).mkdir()
        guideline = tmp_path / name / "judge.md"
        guideline.write_text(PAIRWISE, encoding="utf-8")
        project = init_project(tmp_path / name / "project", guideline)
        loop.import_file(project, write_jsonl(tmp_path / name / "items.jsonl", rows))
        projects.append(project)
    live, batched = projects
    with StubServer(script) as stub:
        label(live, stub.base_url)
        stub.calls.clear()
        sub = loop.label_batch(batched, MODEL, api_base=stub.base_url)
        assert (sub.items, sub.lines) == (3, 6)
        [done] = loop.collect_batches(batched, api_base=stub.base_url)
        assert done.collected[0].calls == 0
        assert stub.calls.counts() == {r["id"]: 2 for r in rows}
    want, got = suggestions(live), suggestions(batched)
    for i in want:
        assert (got[i].value, got[i].confidence) == (want[i].value, want[i].confidence)
        assert got[i].value.label == "a"


def test_a_provider_without_a_batch_api_is_refused_with_the_fix(tmp_path, monkeypatch):
    from labelloop.core.errors import ConfigError

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    project = make_project(tmp_path, [{"id": "i0", "text": "message"}])
    with pytest.raises(ConfigError, match="label it without --batch"):
        loop.label_batch(project, "anthropic/claude-3-5-haiku-latest")
    assert project.store.batch_jobs() == []


def test_a_dry_run_leaves_out_items_waiting_in_a_batch(tmp_path):
    project = make_project(tmp_path, [{"id": f"i{n}", "text": f"message {n}"} for n in range(3)])
    with StubServer(batch_seconds=60) as stub:
        loop.label_batch(project, MODEL, api_base=stub.base_url, limit=2)
        said = loop.dry_run(project, MODEL, api_base=stub.base_url)
    assert "Would label 1 items" in said
