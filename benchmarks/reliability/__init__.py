"""Reliability measurements, one module a section of ``benchmarks/bench_reliability.py``.

Each exposes ``run(store_url, workdir=..., ...) -> dict`` over a fresh project on the store
at ``store_url`` (SQLite or an empty PostgreSQL database; None: SQLite in a temporary
folder, for the modules that allow it) with its files under ``workdir``. A result may carry
its own table rows (``rows``: ``measure``, ``value``, ``of``, ``should_be``, ``ok``,
``note``); the driver makes rows for the others.

``faults``: items lost when a quarter of the calls to the model fail; ``kill_resume``:
calls paid again after ``kill -9`` in the middle of ``labelloop label``; ``hostile_imports``:
the files of ``hostile/`` refused with one line naming the file and the line, tracebacks,
and files that changed the store; ``xss``: payloads of ``corpus/xss_payloads.txt`` that
ran or became markup in the console; ``access``: access checks the console accepted that
it should refuse; ``key_copies``: copies of a distinctive API key in the store, its WAL,
exports, logs and console pages; ``concurrency``: items decided twice or lost by
concurrent reviewers beside routing. ``faults`` and ``kill_resume`` label through the local
stub LLM (``labelloop.testing.stub_llm``).
"""
