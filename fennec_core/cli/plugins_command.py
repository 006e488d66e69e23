"""``fennec plugins``: every component by kind, whether it is usable here and what to install
when not, its origin; broken plugins with their errors."""

from __future__ import annotations

import argparse
import json
from typing import Any

from fennec_core.cli.format import print_table


def cmd_plugins(args: argparse.Namespace) -> int:
    """List every component by kind with its origin, and broken plugins with their errors."""
    from fennec_core.plugin import registry
    from fennec_core.plugin.requirements import missing_modules

    comps = registry.components()
    broken = registry.broken()
    missing = {(c.kind, c.name): missing_modules(c.factory) for c in comps}

    def usable(c: Any) -> str:
        gone = missing[c.kind, c.name]
        return "yes" if not gone else f"no: needs {', '.join(gone)} ({c.factory.install})"

    if args.json:
        doc = {
            "components": {k: [{"name": c.name, "origin": c.origin, "plugin": c.plugin,
                                "usable": not missing[c.kind, c.name], "missing": missing[c.kind, c.name],
                                "install": getattr(c.factory, "install", None) if missing[c.kind, c.name] else None}
                               for c in comps if c.kind == k]
                           for k in registry.KINDS},
            "plugins": [{"name": p.plugin, "origin": p.origin, "hooks": list(p.hooks)} for p in registry.plugins()],
            "broken": [{"plugin": b.plugin, "origin": b.origin, "error": b.error} for b in broken],
        }
        print(json.dumps(doc, indent=2))
        return 0
    rows = [[c.kind, c.name, usable(c), c.origin] for c in comps]
    print_table(["kind", "name", "usable here", "origin"], rows)
    if broken:
        print("\nbroken plugins:")
        for b in broken:
            print(f"  {b.plugin} ({b.origin}): {b.error}")
    return 0
