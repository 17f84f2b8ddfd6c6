"""The tests' shared helpers: factories, services, stub LLM runs, console drivers."""
