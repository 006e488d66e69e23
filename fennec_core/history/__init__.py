"""The history of results: normalisation, choosing k, updates, building histories."""
