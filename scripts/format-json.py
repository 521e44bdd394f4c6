#!/usr/bin/env python3
"""Rewrites JSON files with two-space indentation, keeping short objects and arrays on one line
(as schemas/*.json are written by hand): python3 scripts/format-json.py FILE..."""
import json
import sys


def dump(value, level=0, width=150):
    compact = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if not isinstance(value, (dict, list)) or not value or len(compact) + 2 * level <= width:
        return compact
    pad = "  " * (level + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {dump(v, level + 1, width)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    items = [f"{pad}{dump(v, level + 1, width)}" for v in value]
    return "[\n" + ",\n".join(items) + "\n" + "  " * level + "]"


for path in sys.argv[1:]:
    with open(path) as f:
        data = json.load(f)
    with open(path, "w") as f:
        f.write(dump(data) + "\n")
