"""Built-in task proxies."""
