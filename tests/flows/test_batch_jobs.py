"""Provider batch jobs through the stub's Files and Batches endpoints: submit, kill, rerun,
collect; no item lost and none paid twice."""

from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

from labelloop import loop
from labelloop.label.providers.batch_api import OpenAIBatches
from labelloop.store import Store
from labelloop.testing.stub_llm import StubServer
from labelloop.ui import cli
from tests.support.llm import MODEL, label, make_project, suggestions

ITEMS = [{"id": f"i{n}", "text": f"message {n}"} for n in range(6)]
SCRIPT = {
    "i0": {"label": "refund", "confidence": 0.9, "logprob_confidence": 0.8},
    "i1": {"out_of_set": "spam", "out_of_set_attempts": 1, "label": "card_arrival"},
    "i2": {"label": "lost_or_stolen_card", "confidence": 0.6},
}


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli.app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # as one line, however the console wrapped it


def submit(project, stub, **options):
    return loop.label_batch(project, MODEL, api_base=stub.base_url, retry_wait=0.01, **options)


def collect(project, stub):
    return loop.collect_batches(project, api_base=stub.base_url, retry_wait=0.01)


def suggestions_per_item(project) -> dict[str, int]:
    db = project.root / "labelloop.db"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT item_id, count(*) FROM suggestions WHERE model = ? GROUP BY item_id", (MODEL,)
        ).fetchall()
    finally:
        conn.close()
    return dict(rows)


def assert_each_once(project, stub) -> None:
    """Every item labeled once, and asked (paid) once: i1's out-of-set answer, and its
    re-ask."""
    ids = sorted(i["id"] for i in ITEMS)
    assert suggestions_per_item(project) == dict.fromkeys(ids, 1)
    assert stub.calls.counts() == {**dict.fromkeys(ids, 1), "i1": 2}


def test_batch_answers_are_parsed_as_live_ones_and_cost_no_live_call(tmp_path):
    """The same script answered live and through a batch gives the same suggestions; the
    batch's out-of-set answer is re-asked live (the only live call), and an item whose line
    failed is free again for the next run."""
    live = make_project(tmp_path / "live", ITEMS)
    batched = make_project(tmp_path / "batch", ITEMS)
    with StubServer({**SCRIPT, "i5": {"fail": [500]}}) as stub:
        label(live, stub.base_url)
        stub.calls.clear()
        want_ids = [i["id"] for i in ITEMS]
        p = ["-p", str(batched.root), "--model", MODEL, "--api-base", stub.base_url]
        said = run_cli("label", "--batch", *p)
        assert "Submitted 6 items (6 requests) in 1 batch" in said
        assert "labelloop batch collect" in said
        assert len(stub.calls) == 0  # nothing answered until the batch is looked up
        assert "completed" in run_cli("batch", "status", "-p", str(batched.root))
        said = run_cli("batch", "collect", "-p", str(batched.root))
        assert "5 of 6 items answered, 5 labeled, 0 failed, 1 re-asked live" in said
        assert "1 items got no answer (1: HTTP 500" in said
        assert [(c.key, c.outcome) for c in stub.calls if c.key == "i1"] == [
            ("i1", "out_of_set"),
            ("i1", "ok"),
        ]
        rerun = label(batched, stub.base_url)  # the failed line's item, live
        assert rerun.labeled == 1
        assert [c.outcome for c in stub.calls if c.key == "i5"] == ["500", "ok"]
        assert stub.calls.counts() == {**dict.fromkeys(want_ids, 1), "i1": 2, "i5": 2}
    want, got = suggestions(live), suggestions(batched)
    assert set(got) == set(want) == {i["id"] for i in ITEMS}
    for i in want:
        w, g = want[i], got[i]
        assert (g.value, g.confidence, g.rationale) == (w.value, w.confidence, w.rationale), i
        assert (g.cache_key, g.prompt_version, g.signals) == (
            w.cache_key,
            w.prompt_version,
            w.signals,
        )


def test_a_kill_after_the_batch_was_created_is_found_by_its_metadata(tmp_path, monkeypatch):
    project = make_project(tmp_path, ITEMS)
    real = Store.update_batch_job

    def killed(self, batch_id, **values):
        if values.get("provider_batch_id"):
            raise KeyboardInterrupt  # killed before the batch id was written down
        return real(self, batch_id, **values)

    with StubServer(SCRIPT, batch_seconds=60) as stub:
        monkeypatch.setattr(Store, "update_batch_job", killed)
        with pytest.raises(KeyboardInterrupt):
            submit(project, stub)
        monkeypatch.setattr(Store, "update_batch_job", real)
        assert [b.status for b in project.store.batch_jobs()] == ["submitting"]
        again = submit(project, stub)  # nothing is submitted twice
        assert again.submitted == []
        assert "found again at the provider by its metadata" in again.settled.summary()[0]
        assert "6 items wait in batch" in again.settled.summary()[1]
        stub.state.batch_seconds = 0
        [done] = collect(project, stub)
        assert [c.labeled for c in done.collected] == [6]
    assert len(stub.state.batches) == 1
    assert_each_once(project, stub)


def test_a_kill_before_the_batch_was_created_abandons_it_and_submits_again(tmp_path, monkeypatch):
    project = make_project(tmp_path, ITEMS)

    def killed(self, input_file_id, metadata):
        raise KeyboardInterrupt

    with StubServer(SCRIPT) as stub:
        with monkeypatch.context() as m:
            m.setattr(OpenAIBatches, "create", killed)
            with pytest.raises(KeyboardInterrupt):
                submit(project, stub)
        again = submit(project, stub)
        assert "was never created at the provider" in again.settled.notes[0]
        assert again.items == 6 and len(again.submitted) == 1
        collect(project, stub)
    statuses = sorted(b.status for b in project.store.batch_jobs())
    assert statuses == ["abandoned", "completed"]
    assert_each_once(project, stub)


def test_a_plain_run_leaves_items_in_a_running_batch_and_collects_it_when_done(tmp_path):
    project = make_project(tmp_path, ITEMS)
    with StubServer(SCRIPT, batch_seconds=60) as stub:
        assert submit(project, stub, limit=4).items == 4
        run = label(project, stub.base_url)
        assert run.labeled == 2  # the two items outside the batch
        assert any("4 items wait in batch" in line for line in run.batches)
        stub.state.batch_seconds = 0
        run = label(project, stub.base_url)
        assert run.labeled == 0 and run.calls == 0
        assert any("4 of 4 items answered, 4 labeled" in line for line in run.batches)
        assert loop.collect_batches(project) == []  # nothing open is left
    assert_each_once(project, stub)
    assert project.store.route_counts()  # routed as a live run routes


def test_a_failed_batch_frees_its_items(tmp_path):
    project = make_project(tmp_path, ITEMS)
    with StubServer(SCRIPT, batch_fail=True) as stub:
        submit(project, stub)
        [done] = collect(project, stub)
        assert done.collected[0].batch.status == "failed"
        assert done.collected[0].unanswered == 6
        assert len(stub.calls) == 0
        assert label(project, stub.base_url).labeled == 6
    assert_each_once(project, stub)


def test_items_are_split_over_batches_at_the_line_limit(tmp_path, monkeypatch):
    from labelloop.label.providers import batch_files

    monkeypatch.setattr(batch_files, "MAX_LINES", 4)
    monkeypatch.setattr("labelloop.label.batch_jobs.MAX_LINES", 4)
    project = make_project(tmp_path, ITEMS)
    with StubServer(SCRIPT) as stub:
        sub = submit(project, stub)
        assert [b.items for b in sub.submitted] == [4, 2]
        [done] = collect(project, stub)
        assert sum(c.labeled for c in done.collected) == 6
    assert_each_once(project, stub)


def test_examples_reviewed_while_a_batch_runs_do_not_change_its_prompts(tmp_path):
    """Reviews added between submitting and collecting change the few-shot pool: the
    answers are still parsed under the prompts they were asked with, not asked again."""
    reviewed = [{"id": f"r{n}", "text": f"refund please {n}", "label": "refund"} for n in range(3)]
    project = make_project(tmp_path, reviewed + ITEMS, reviewer="ann")
    with StubServer(SCRIPT, batch_seconds=60) as stub:
        sub = submit(project, stub)
        asked = {i for b in sub.submitted for i, _, _ in project.store.batch_job_items(b.id)}
        assert {i["id"] for i in ITEMS} <= asked
        more = tmp_path / "more.jsonl"
        more.write_text('{"id": "r9", "text": "my card never came", "label": "card_arrival"}\n')
        loop.import_file(project, more, reviewer="bob")
        stub.state.batch_seconds = 0
        [done] = collect(project, stub)
        assert done.collected[0].labeled == len(asked)
        assert done.collected[0].calls == 1  # i1's re-ask
    got = suggestions(project)
    # without the examples each item was asked with, r9 would be in every prompt now
    assert all("r9" not in got[i].fewshot_ids for i in asked)
    assert got["i0"].fewshot_ids
    assert stub.calls.counts() == {**dict.fromkeys(asked, 1), "i1": 2}


def test_a_process_killed_while_the_batch_is_created_loses_nothing(tmp_path):
    """SIGKILL while the provider creates the batch (it exists, its id is not recorded):
    the next command finds it by its metadata; every item is labeled and paid once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    project = make_project(tmp_path, ITEMS)
    with StubServer(SCRIPT, batch_create_delay=30) as stub:
        cmd = [sys.executable, "-m", "labelloop.ui.cli", "label", "--model", MODEL, "--batch"]
        cmd += ["--api-base", stub.base_url, "-p", str(project.root)]
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not stub.state.batches and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert [b.status for b in project.store.batch_jobs()] == ["submitting"]
        stub.state.batch_create_delay = 0
        said = run_cli("batch", "collect", "-p", str(project.root))
        assert "found again at the provider by its metadata" in said, said
        assert "6 items answered, 6 labeled" in said or "6 of 6 items answered" in said, said
    assert len(stub.state.batches) == 1
    assert_each_once(project, stub)


def test_max_cost_bounds_what_a_batch_submits_at_batch_prices(tmp_path):
    priced = "openai/gpt-4o-mini"  # litellm has its batch price; the stub answers any model
    with StubServer(SCRIPT) as stub:
        one = make_project(tmp_path / "one", ITEMS)
        each = loop.label_batch(one, priced, api_base=stub.base_url, limit=1).estimate_usd
        assert each > 0
        project = make_project(tmp_path / "two", ITEMS)
        sub = loop.label_batch(project, priced, api_base=stub.base_url, max_cost=2.5 * each)
        assert sub.items == 2 and sub.left_at_budget == 4
        assert sub.estimate_usd <= 2.5 * each
        nothing = loop.label_batch(project, priced, api_base=stub.base_url, max_cost=each / 2)
        assert nothing.submitted == [] and nothing.left_at_budget == 4
