"""Built-in score mergers."""
