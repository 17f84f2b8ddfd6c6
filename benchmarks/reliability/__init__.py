"""Reliability measurements, each a ``run(store_url) -> dict`` over a fresh project.

``faults``: items lost when a quarter of the calls to the model fail; ``kill_resume``:
calls paid again after ``kill -9`` in the middle of ``labelloop label``. Both label
through the local stub LLM (``agent.testing.stub_llm``), on SQLite in a temporary folder
when ``store_url`` is None, else on the (empty) store at that URL.

``hostile_imports``: the files of ``hostile/`` refused with one line naming the file and
the line, tracebacks, and files that changed the store (no LLM).
"""
