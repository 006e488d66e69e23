"""Fennec's built-in plugins (import name ``fennec_plugins``).

Each module registers its components through the same hooks a third-party plugin uses;
``fennec_core.plugin.registry.DEFAULT_PLUGINS`` lists them by module path.
"""
