#!/usr/bin/python3
"""Validate JSON documents against one of agentbus's schemas (draft 2020-12).

usage: validate.py SCHEMA DOC...   exit 0 when every DOC is valid
       validate.py --check SCHEMA...   exit 0 when every SCHEMA is itself valid
"""
import glob
import json
import os
import sys

from jsonschema import Draft202012Validator, FormatChecker, RefResolver


def load_store(schema_path):
    """Every schema beside `schema_path`, by $id, so $refs never hit the network."""
    store = {}
    for path in glob.glob(os.path.join(os.path.dirname(schema_path), "*.schema.json")):
        with open(path) as f:
            doc = json.load(f)
        store[doc["$id"]] = doc
    return store


def main(argv):
    if argv and argv[0] == "--check":
        for path in argv[1:]:
            with open(path) as f:
                Draft202012Validator.check_schema(json.load(f))
        return 0
    with open(argv[0]) as f:
        schema = json.load(f)
    resolver = RefResolver(schema["$id"], schema, store=load_store(argv[0]))
    validator = Draft202012Validator(schema, resolver=resolver, format_checker=FormatChecker())
    bad = 0
    for path in argv[1:]:
        with open(path) as f:
            doc = json.load(f)
        for error in validator.iter_errors(doc):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            print(f"{path}: {where}: {error.message}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
