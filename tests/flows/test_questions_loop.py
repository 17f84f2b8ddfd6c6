"""A guideline that asks several questions, offline, end to end as a user runs it: import
answers keyed by question (a uniform sample among them), label with the embedded model (one
model per question), calibrate and route per question, answer in the console only the
questions routing left open, export, and import the export back."""

from __future__ import annotations

import json
import random

from labelloop import api
from labelloop.review.service import ReviewService

GUIDELINE = """\
---
task: support-rubric
unit: text
questions:
  topic: {kind: single, labels: [billing, shipping]}
  mood: {kind: single, labels: [angry, calm]}
---
# Support rubric

## topic
What the message is about.

### billing
Charges, refunds, invoices.
- Example: I was charged twice for my order
### shipping
Parcels, delivery, couriers.
- Example: my parcel never arrived

## mood
How the customer sounds.

### angry
Upset, shouting, threatening to leave.
### calm
Neutral or friendly.
"""

BILLING = ["charged twice", "refund my payment", "wrong invoice amount", "card was billed"]
SHIPPING = ["parcel is late", "courier lost my box", "delivery never came", "tracking is stuck"]


def rows(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        topic = rnd.choice(["billing", "shipping"])
        what = rnd.choice(BILLING if topic == "billing" else SHIPPING)
        # the mood is a coin flip the words do not show: the model cannot learn it
        mood = rnd.choice(["angry", "calm"])
        out.append({"id": f"{seed}-{i}", "text": f"Hello, my {what}.", "truth": (topic, mood)})
    return out


def labeled(r: dict) -> dict:
    return {
        "id": r["id"],
        "text": r["text"],
        "labels": {"topic": r["truth"][0], "mood": r["truth"][1]},
    }


def test_questions_are_labeled_routed_reviewed_and_exported_each_on_its_own(tmp_path):
    g = tmp_path / "rubric.md"
    g.write_text(GUIDELINE, encoding="utf-8")
    project = api.create_project(tmp_path / "p", g, review={"overlap": 0.0})
    train, sample, stream = rows(120, 1), rows(240, 2), rows(60, 3)
    api.import_rows(project, [labeled(r) for r in train], reviewer="ann")
    api.import_rows(project, [labeled(r) for r in sample], reviewer="ann", sample=True)
    api.import_rows(project, [{"id": r["id"], "text": r["text"]} for r in stream])
    run = api.label_items(project, "local")
    assert run.failed == 0
    made = project.store.latest_suggestions(model="local")
    s = made[stream[0]["id"]]
    assert set(s.value.answers) == {"topic", "mood"}
    assert {"topic.confidence", "mood.confidence"} <= set(s.signals)

    cal = api.calibrate(project, target_accuracy=0.9)
    questions = cal.details["questions"]
    assert questions["topic"]["threshold"] is not None  # the words tell the topic
    assert questions["mood"]["threshold"] is None  # a coin flip is never certified
    status = api.status(project).details
    assert status["questions"]["topic"]["threshold"] == questions["topic"]["threshold"]

    # people are asked only the mood of items whose topic was accepted
    routes = {i: project.store.get_route(i) for i in (r["id"] for r in stream)}
    partly = [i for i, rt in routes.items() if rt.route == "active" and rt.accepted == ("topic",)]
    assert partly, {rt.route for rt in routes.values()}
    api.add_user(project, "rita", "reviewer", "pw-rita-123456")
    service = ReviewService(project, background_prefetch=False)
    view = service.next_item("rita")
    while view is not None and view.item.id not in partly:
        service.decide("rita", view.item.id, "skip")
        view = service.next_item("rita")
    assert view is not None and view.questions == ("mood",) and view.question == "mood"
    target = view.item.id
    service.decide("rita", target, "fix", "angry")
    (review,) = project.store.reviews_for(target)
    assert review.value.answers == {"mood": review.value.answers["mood"]}  # mood only

    out = tmp_path / "out.jsonl"
    api.export_items(project, out)
    exported = {json.loads(line)["id"]: json.loads(line) for line in out.open(encoding="utf-8")}
    row = exported[target]
    assert row["labels"] == {"topic": made[target].value.answers["topic"].label, "mood": "angry"}
    assert row["label_source"] == {"topic": "model", "mood": "human"}
    fresh = api.create_project(tmp_path / "fresh", g)
    api.import_file(fresh, out)
    again = fresh.store.reviews_for(target)
    assert [r.value.answers for r in again] == [review.value.answers]  # people's, not the model's


JUDGED = """\
---
task: answer-check
unit: conversation
questions:
  better: {kind: pairwise}
  language: {kind: single, labels: [english, french]}
---
# Answer check

## better
The reply that answers the question asked.
"""


def test_the_embedded_model_judges_a_pairwise_question_beside_a_label_question(tmp_path):
    g = tmp_path / "judged.md"
    g.write_text(JUDGED, encoding="utf-8")
    project = api.create_project(tmp_path / "p", g)
    rnd = random.Random(5)
    rows = []
    for i in range(60):
        right = f"The answer is {i} apples, as you asked."
        wrong = "I like trains."
        a_wins = rnd.random() < 0.5
        rows.append(
            {
                "id": f"j{i}",
                "messages": [{"role": "user", "content": f"How many apples in box {i}?"}],
                "replies": [
                    {"id": "a", "content": right if a_wins else wrong},
                    {"id": "b", "content": wrong if a_wins else right},
                ],
                **(
                    {"labels": {"better": "a" if a_wins else "b", "language": "english"}}
                    if i < 40
                    else {}
                ),
            }
        )
    api.import_rows(project, rows, reviewer="ann")
    run = api.label_items(project, "local")
    assert run.failed == 0
    made = project.store.latest_suggestions(model="local")
    for r in rows[40:]:
        better = made[r["id"]].value.answers["better"].label
        assert better in ("a", "b")
    right = sum(
        made[r["id"]].value.answers["better"].label
        == ("a" if r["replies"][0]["content"].startswith("The answer") else "b")
        for r in rows[40:]
    )
    assert right >= 16, right  # of 20: the right reply answers with the words asked
