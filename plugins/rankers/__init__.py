"""Built-in rankers."""
