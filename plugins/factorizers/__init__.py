"""Built-in factorizers."""
