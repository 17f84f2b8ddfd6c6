"""Test helpers the project owns (a local OpenAI-compatible stub LLM server)."""
