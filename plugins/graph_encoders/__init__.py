"""Built-in graph encoders."""
