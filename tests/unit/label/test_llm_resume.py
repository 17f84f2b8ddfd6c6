"""Cache and resume: a rerun labels only what is missing; a run killed with SIGKILL resumes
without repeating any call whose response was committed to the call log."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from benchmarks.reliability import kill_resume
from labelloop.testing.stub_llm import StubServer
from labelloop.ui import cli
from tests.support.llm import MODEL, label, make_project, suggestions

pytestmark = pytest.mark.usefixtures("no_key")

ITEMS = 64
CONCURRENCY = 16
LATENCY = 0.5
IN_FLIGHT = 8


def test_rerun_makes_no_calls_and_stale_relabels_after_a_guideline_edit(tmp_path):
    items = [{"id": f"i{n}", "text": f"message {n}"} for n in range(3)]
    project = make_project(tmp_path, items)
    with StubServer() as stub:
        assert label(project, stub.base_url).labeled == 3
        first = suggestions(project)
        stub.calls.clear()
        again = label(project, stub.base_url)
        assert (again.candidates, again.calls, len(stub.calls)) == (0, 0, 0)

        path = project.guideline_path
        path.write_text(
            path.read_text().replace("wants money back", "asks for a refund"), encoding="utf-8"
        )
        edited = project.guideline().version
        assert edited != first["i0"].guideline_version
        assert label(project, stub.base_url).candidates == 0  # without --stale: nothing
        assert len(stub.calls) == 0
        args = ["label", "--model", MODEL, "--api-base", stub.base_url, "--stale"]
        result = CliRunner().invoke(cli.app, [*args, "-p", str(project.root)])
        assert result.exit_code == 0, result.output
        assert "Labeled 3 items" in result.output
        assert sorted(stub.calls.counts().values()) == [1, 1, 1]
    now = suggestions(project)
    assert {s.guideline_version for s in now.values()} == {edited}
    assert all(now[i].cache_key != first[i].cache_key for i in now)


# --- kill -9 --------------------------------------------------------------------------------


def test_kill_9_mid_run_repays_at_most_the_calls_in_flight(tmp_path):
    """The CLI killed with SIGKILL while calls are open, then run again: only the calls
    that were in flight are paid again (at most one per worker), none that was committed."""
    got = kill_resume.run(
        items=ITEMS, concurrency=CONCURRENCY, latency=LATENCY, in_flight=IN_FLIGHT, workdir=tmp_path
    )
    seed, detail = got["seed"], got["detail"]
    answered, before, after = set(detail["answered"]), detail["before"], detail["after"]
    unanswered = {i for i, n in before.items() if n and i not in answered}
    assert unanswered, f"seed {seed}"

    repeated = {i for i in answered if after.get(i) != before.get(i)}
    assert not repeated, f"committed responses asked again (seed {seed}): {sorted(repeated)}"
    assert all(after[i] == before[i] + 1 for i in unanswered), f"seed {seed}"
    repaid = got["calls_repaid"]
    assert repaid == got["in_flight_at_kill"] == len(unanswered) <= CONCURRENCY, f"seed {seed}"
    assert len(after) == ITEMS and all(n == 1 for i, n in after.items() if i not in unanswered)
    # one suggestion per item, none lost
    assert (got["items_lost"], got["suggestions_stored"], got["rerun_failed"]) == (0, ITEMS, 0)


def test_a_run_killed_after_a_reask_answer_was_committed_does_not_reask_again(tmp_path):
    """The first answer (out of the label set) and the re-ask's answer are both in the call
    log, but the run died before the suggestion was stored: the rerun parses both again."""
    items = [{"id": "odd", "text": "message odd"}, {"id": "plain", "text": "message plain"}]
    project = make_project(tmp_path, items)
    script = {"odd": {"out_of_set": "spam", "out_of_set_attempts": 1, "label": "refund"}}
    with StubServer(script) as stub:
        first = label(project, stub.base_url)
        assert first.failed == 0 and [c.outcome for c in stub.calls if c.key == "odd"] == [
            "out_of_set",
            "ok",
        ]
        with project.store.engine.begin() as conn:  # as if killed before the suggestion
            conn.exec_driver_sql("UPDATE routes SET suggestion_id = NULL WHERE item_id = 'odd'")
            conn.exec_driver_sql("DELETE FROM suggestions WHERE item_id = 'odd'")
        stub.reset()
        rerun = label(project, stub.base_url)
        assert len(stub.calls) == 0, [c.key for c in stub.calls]
    assert rerun.labeled == 1 and rerun.failed == 0
    again = suggestions(project)["odd"]
    assert again.status == "ok" and again.value.label == "refund"


def test_a_run_killed_during_its_second_reask_goes_on_from_the_first(tmp_path):
    """Answer, re-ask 1 (both out of the label set) committed, re-ask 2 in flight at the
    kill: the rerun pays for re-ask 2 alone, asked with re-ask 1's answer and error."""
    items = [{"id": "odd", "text": "message odd"}]
    project = make_project(tmp_path, items)
    script = {"odd": {"out_of_set": "spam", "out_of_set_attempts": 2}}
    with StubServer(script) as stub:
        assert label(project, stub.base_url).failed == 0
        assert [c.outcome for c in stub.calls] == ["out_of_set", "out_of_set", "ok"]
        with project.store.engine.begin() as conn:  # as if killed with re-ask 2 in flight
            conn.exec_driver_sql("UPDATE routes SET suggestion_id = NULL")
            conn.exec_driver_sql("DELETE FROM suggestions")
            conn.exec_driver_sql("DELETE FROM llm_calls WHERE cache_key LIKE '%:reask2'")
        stub.reset()
        stub.script = {"odd": {"out_of_set": "eggs"}}  # and every answer is wrong now
        rerun = label(project, stub.base_url)
        assert [c.outcome for c in stub.calls] == ["out_of_set"]
        asked = stub.calls[0].body["messages"]
    assert '"spam"' in asked[-2]["content"] and "Unknown label 'spam'" in asked[-1]["content"]
    assert rerun.failed == 1 and "spam" not in suggestions(project)["odd"].raw


def test_self_consistency_samples_committed_by_a_killed_run_are_not_paid_again(tmp_path):
    items = [{"id": "unsure", "text": "my card?"}]
    project = make_project(tmp_path, items)
    script = {"unsure": {"label": "card_arrival", "confidence": 0.5, "logprob_confidence": 0.5}}
    with StubServer(script) as stub:
        label(project, stub.base_url, self_consistency=3)
        assert stub.calls.attempts("unsure") == 4
        with project.store.engine.begin() as conn:  # as if killed before the suggestion
            conn.exec_driver_sql("UPDATE routes SET suggestion_id = NULL")
            conn.exec_driver_sql("DELETE FROM suggestions")
        stub.calls.clear()
        rerun = label(project, stub.base_url, self_consistency=3)
        assert len(stub.calls) == 0, [c.key for c in stub.calls]
    assert rerun.labeled == 1
    assert suggestions(project)["unsure"].signals["self_consistency"] == pytest.approx(1.0)


def test_jobs_are_planned_in_chunks_and_every_chunk_reuses_committed_answers(tmp_path, monkeypatch):
    """The first calls leave once one job per worker is planned; the rest is planned a chunk
    at a time, and each chunk finds the answers a killed run had already committed."""
    from labelloop.label.providers import llm

    monkeypatch.setattr(llm, "PLAN_CHUNK", 4)
    planned: list[int] = []
    jobs = llm.Planner.jobs

    def spy(self, items):
        planned.append(len(items))
        return jobs(self, items)

    monkeypatch.setattr(llm.Planner, "jobs", spy)
    items = [{"id": f"c{n:02d}", "text": f"message {n}"} for n in range(11)]
    project = make_project(tmp_path, items)
    with StubServer() as stub:
        first = label(project, stub.base_url, concurrency=2)
        assert (first.labeled, first.calls, planned) == (11, 11, [2, 4, 4, 1])
        with project.store.engine.begin() as conn:  # as if killed before any suggestion
            conn.exec_driver_sql("UPDATE routes SET suggestion_id = NULL")
            conn.exec_driver_sql("DELETE FROM suggestions")
        stub.reset()
        rerun = label(project, stub.base_url, concurrency=2)
        assert len(stub.calls) == 0, [c.key for c in stub.calls]
    assert (rerun.labeled, rerun.failed) == (11, 0)
    assert set(suggestions(project)) == {i["id"] for i in items}
