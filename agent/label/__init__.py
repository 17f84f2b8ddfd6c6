"""Labeling: prompts, output schemas, confidence signals, few-shot examples, providers."""
