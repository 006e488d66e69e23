"""Architectures: graphs, features from the architecture, encodings, new models."""
