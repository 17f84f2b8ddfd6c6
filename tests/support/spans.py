"""Booking messages for span-task tests: a guideline whose examples mark their spans, and
messages in a few familiar shapes with their gold spans."""

from __future__ import annotations

import random

GUIDELINE = """---
task: booking-spans
kind: spans
labels: [people, time, name]
context: [requested_slot]
---
# Booking details

Mark the party size, the time and the name a booking is under.

## Labels

### people
How many people the table is for.
- Example: Table for [four](people) at [7pm](time)
- Example: we are [six](people)

### time
The time of day.
- Example: [8:30](time) works
- Example: can we come at [9pm](time) instead

### name
The name the booking is under.
- Example: it's under [Garcia](name)
- Example: book it for [Ana Lopez](name) at [noon](time)
"""
NAMES = ["Garcia", "Okafor", "Lindqvist", "Tanaka", "Moreau", "Novak", "Ahmed", "Rossi"]
NUMBERS = ["two", "three", "four", "five", "six", "eight", "ten", "twelve"]
TIMES = ["7pm", "8pm", "6:30", "7:45", "noon", "9pm", "8:15", "6pm"]


def marked(parts) -> tuple[str, list[dict]]:
    """The text of (words, label or None) parts, and its spans as import rows write them."""
    text, spans = "", []
    for words, label in parts:
        if label:
            spans.append({"start": len(text), "end": len(text) + len(words), "label": label})
        text += words
    return text, spans


def familiar(rng: random.Random, n: int) -> tuple[str, list[dict]]:
    """A booking message in one of four shapes (``n % 4``), with its spans."""
    who, many, when = rng.choice(NAMES), rng.choice(NUMBERS), rng.choice(TIMES)
    return marked(
        {
            0: [("a table for ", None), (many, "people"), (" at ", None), (when, "time")],
            1: [("name is ", None), (who, "name"), (", we are ", None), (many, "people")],
            2: [("could we move it to ", None), (when, "time"), ("?", None)],
            3: [("thanks, see you then", None)],
        }[n % 4]
    )
