#!/usr/bin/python3
"""Validate JSON documents against one of agentbus's schemas (draft 2020-12).

usage: validate.py SCHEMA DOC...   exit 0 when every DOC is valid
       validate.py --check SCHEMA...   exit 0 when every SCHEMA is itself valid
       validate.py --examples DIR SCHEMA_DIR
           every DIR/NAME.valid.*.json must pass SCHEMA_DIR/NAME.schema.json and
           every DIR/NAME.invalid.*.json must fail it
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


def validator_for(schema_path):
    with open(schema_path) as f:
        schema = json.load(f)
    resolver = RefResolver(schema["$id"], schema, store=load_store(schema_path))
    return Draft202012Validator(schema, resolver=resolver, format_checker=FormatChecker())


def check_examples(examples_dir, schema_dir):
    wrong = 0
    paths = sorted(glob.glob(os.path.join(examples_dir, "*.json")))
    for path in paths:
        name, kind = os.path.basename(path).split(".")[:2]
        with open(path) as f:
            doc = json.load(f)
        errors = list(validator_for(os.path.join(schema_dir, name + ".schema.json")).iter_errors(doc))
        if (kind == "valid") != (not errors):
            wrong += 1
            why = errors[0].message if errors else "accepted"
            print(f"{os.path.basename(path)}: expected {kind}, got: {why}")
    print(f"{len(paths) - wrong} passed, {wrong} failed")
    return 1 if wrong or not paths else 0


def main(argv):
    if argv and argv[0] == "--examples":
        return check_examples(argv[1], argv[2])
    if argv and argv[0] == "--check":
        for path in argv[1:]:
            with open(path) as f:
                Draft202012Validator.check_schema(json.load(f))
        return 0
    validator = validator_for(argv[0])
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
