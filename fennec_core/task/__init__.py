"""The new task: inputs, proxies, mapping embeddings to task vectors, warm start."""
