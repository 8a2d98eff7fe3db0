#!/usr/bin/env python3
"""Validate OpenLineage RunEvents against the official JSON schemas, offline.

Usage: validate.py EVENTS.jsonl

EVENTS.jsonl holds one event per line (blank lines are skipped). Each event is
validated against OpenLineage.json#/$defs/RunEvent (2-0-2), then every facet in
run.facets, job.facets, inputs[].facets, inputs[].inputFacets,
outputs[].facets and outputs[].outputFacets (and facets forwarded inside a
ParentRunFacet) is validated against the schema named by its `_schemaURL`,
which must be `<$id of a file in schemas/>#/$defs/<Name>`. Finally every run
must start with START and have exactly one COMPLETE or FAIL.

All schemas are loaded from ./schemas next to this script and registered under
their `$id`, so `$ref`s to https://openlineage.io/... resolve without network.
Formats (date-time, uri, uuid) are asserted; this needs `jsonschema[format]`
or `jsonschema[format-nongpl]` (tested with jsonschema 4.26.0,
referencing 0.37.0).

Prints `validated N events, M facets` and exits 0, or prints one line per
failure and exits 1 (exit 2 on a setup problem).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
RUN_EVENT_URL = CORE_ID + "#/$defs/RunEvent"
TERMINAL = ("COMPLETE", "FAIL", "ABORT")

# Values the schemas leave as free strings but the spec documentation enumerates
# (website/docs/spec/facets/dataset-facets/column_lineage_facet.md and the
# JobTypeJobFacet field descriptions).
TRANSFORMATION_SUBTYPES = {
    "DIRECT": {"IDENTITY", "TRANSFORMATION", "AGGREGATION"},
    "INDIRECT": {"JOIN", "GROUP_BY", "FILTER", "SORT", "WINDOW", "CONDITIONAL"},
}
PROCESSING_TYPES = {"BATCH", "STREAMING", "SERVICE"}

# Facet container -> the core base facet type a facet placed there must extend.
CONTAINER_BASE = {
    "run.facets": "RunFacet",
    "job.facets": "JobFacet",
    "facets": "DatasetFacet",
    "inputFacets": "InputDatasetFacet",
    "outputFacets": "OutputDatasetFacet",
}


def setup_error(message: str) -> None:
    print(f"setup: {message}", file=sys.stderr)
    sys.exit(2)


def load_schemas() -> dict[str, dict]:
    schemas: dict[str, dict] = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        schema_id = contents.get("$id")
        if not schema_id:
            setup_error(f"{path.name} has no $id")
        schemas[schema_id] = contents
    if CORE_ID not in schemas:
        setup_error(f"{CORE_ID} not found in {SCHEMA_DIR}")
    return schemas


def make_validator_factory(schemas: dict[str, dict]):
    registry = Registry().with_resources(
        (sid, Resource.from_contents(doc, default_specification=DRAFT202012))
        for sid, doc in schemas.items()
    )
    checker = Draft202012Validator.FORMAT_CHECKER
    # Without the optional format libraries jsonschema silently accepts any
    # string for these formats; refuse to run rather than pass vacuously.
    for fmt, bad in (("date-time", "yesterday"), ("uri", "no scheme"), ("uuid", "123")):
        if fmt not in checker.checkers or checker.conforms(bad, fmt):
            setup_error(
                f"format '{fmt}' is not checked; "
                "pip install 'jsonschema[format-nongpl]' (or jsonschema[format])"
            )
    cache: dict[str, Draft202012Validator] = {}

    def validator_for(url: str) -> Draft202012Validator:
        if url not in cache:
            cache[url] = Draft202012Validator(
                {"$ref": url}, registry=registry, format_checker=checker
            )
        return cache[url]

    return validator_for


def describe(err) -> str:
    path = "$" + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path
    )
    best = err
    # For allOf/anyOf/oneOf, report the most specific sub-error as well.
    if err.context:
        best = min(err.context, key=lambda e: (-len(e.absolute_path), str(e.message)))
        path = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in best.absolute_path
        )
    return f"{best.message} (at {path}; schema path {'/'.join(map(str, best.absolute_schema_path))})"


def facet_def(schemas: dict[str, dict], url: str) -> tuple[dict, str, str] | str:
    """Resolve a facet `_schemaURL` to (schema document, $def name, base type) or an error."""
    base, sep, fragment = url.partition("#")
    if base not in schemas:
        return f"unknown _schemaURL {url!r} (no local schema with $id {base!r})"
    if not sep or not fragment.startswith("/$defs/") or fragment.count("/") != 2:
        return f"_schemaURL {url!r} must end with '#/$defs/<FacetName>'"
    name = fragment[len("/$defs/"):]
    doc = schemas[base]
    definition = doc.get("$defs", {}).get(name)
    if definition is None:
        return f"_schemaURL {url!r}: {base} has no $defs/{name}"
    base_type = None
    for part in definition.get("allOf", []):
        ref = part.get("$ref", "") if isinstance(part, dict) else ""
        if ref.startswith(CORE_ID + "#/$defs/"):
            base_type = ref.rsplit("/", 1)[1]
    if base_type is None:
        return f"_schemaURL {url!r}: $defs/{name} is not a facet (extends no core facet type)"
    return doc, name, base_type


def documented_values(name: str, facet: dict) -> list[str]:
    """Check enumerations that the spec documents but the schemas do not encode."""
    problems: list[str] = []
    if name == "JobTypeJobFacet":
        ptype = facet.get("processingType")
        if isinstance(ptype, str) and ptype not in PROCESSING_TYPES:
            problems.append(f"processingType {ptype!r} not one of {sorted(PROCESSING_TYPES)}")
    if name != "ColumnLineageDatasetFacet":
        return problems
    input_fields: list[tuple[str, object]] = []
    fields = facet.get("fields")
    if isinstance(fields, dict):
        for out, spec in fields.items():
            if isinstance(spec, dict) and isinstance(spec.get("inputFields"), list):
                input_fields += [(f"$.fields.{out}.inputFields[{i}]", f)
                                 for i, f in enumerate(spec["inputFields"])]
    if isinstance(facet.get("dataset"), list):
        input_fields += [(f"$.dataset[{i}]", f) for i, f in enumerate(facet["dataset"])]
    for where, field in input_fields:
        transformations = field.get("transformations") if isinstance(field, dict) else None
        for j, t in enumerate(transformations if isinstance(transformations, list) else []):
            if not isinstance(t, dict):
                continue
            ttype, subtype = t.get("type"), t.get("subtype")
            if ttype not in TRANSFORMATION_SUBTYPES:
                problems.append(f"transformation type {ttype!r} not DIRECT|INDIRECT "
                                f"(at {where}.transformations[{j}])")
            elif subtype is not None and subtype not in TRANSFORMATION_SUBTYPES[ttype]:
                problems.append(f"subtype {subtype!r} is not a documented {ttype} subtype "
                                f"{sorted(TRANSFORMATION_SUBTYPES[ttype])} (at {where}.transformations[{j}])")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    schemas = load_schemas()
    validator_for = make_validator_factory(schemas)
    failures: list[str] = []
    n_events = 0
    n_facets = 0
    runs: dict[str, list[tuple[int, str, tuple]]] = {}

    def check_facets(idx: int, where: str, kind: str, facets) -> None:
        nonlocal n_facets
        if facets is None:
            return
        if not isinstance(facets, dict):
            failures.append(f"event {idx}: {where} is not an object")
            return
        for key, facet in facets.items():
            label = f"event {idx} facet {where}.{key}"
            n_facets += 1
            if not isinstance(facet, dict):
                failures.append(f"{label}: facet is not an object")
                continue
            url = facet.get("_schemaURL")
            if not isinstance(url, str):
                failures.append(f"{label}: missing _schemaURL")
                continue
            resolved = facet_def(schemas, url)
            if isinstance(resolved, str):
                failures.append(f"{label}: {resolved}")
                continue
            doc, name, base_type = resolved
            expected_key = [
                k
                for k, v in doc.get("properties", {}).items()
                if isinstance(v, dict) and v.get("$ref") == f"#/$defs/{name}"
            ]
            if expected_key and key not in expected_key:
                failures.append(
                    f"{label}: facet key {key!r} does not match its schema "
                    f"(expected {expected_key[0]!r} for {name})"
                )
            if base_type != CONTAINER_BASE[kind]:
                failures.append(
                    f"{label}: {name} is a {base_type}, but {where} holds {CONTAINER_BASE[kind]}s"
                )
            for err in validator_for(url).iter_errors(facet):
                failures.append(f"{label}: {describe(err)}")
            failures.extend(f"{label}: {msg}" for msg in documented_values(name, facet))
            if name == "ParentRunFacet":
                # Facets forwarded from the parent/root run and job.
                for sub in ("run", "job"):
                    for prefix, holder in (("", facet), ("root.", facet.get("root"))):
                        if isinstance(holder, dict) and isinstance(holder.get(sub), dict):
                            check_facets(
                                idx,
                                f"{where}.{key}.{prefix}{sub}.facets",
                                f"{sub}.facets",
                                holder[sub].get("facets"),
                            )

    path = Path(argv[1])
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        idx = n_events
        n_events += 1
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            failures.append(f"event {idx} (line {lineno}): not JSON: {exc}")
            continue
        before = len(failures)
        for err in validator_for(RUN_EVENT_URL).iter_errors(event):
            failures.append(f"event {idx} (line {lineno}) RunEvent: {describe(err)}")
        if len(failures) == before:
            # The top-level schema is oneOf RunEvent/DatasetEvent/JobEvent;
            # make sure the event is unambiguously a RunEvent.
            for err in validator_for(CORE_ID).iter_errors(event):
                failures.append(f"event {idx} (line {lineno}) OpenLineage.json: {describe(err)}")
        if not isinstance(event, dict):
            continue
        if event.get("schemaURL") != RUN_EVENT_URL:
            failures.append(
                f"event {idx} (line {lineno}): schemaURL is {event.get('schemaURL')!r}, "
                f"expected {RUN_EVENT_URL!r}"
            )
        run = event.get("run") if isinstance(event.get("run"), dict) else {}
        job = event.get("job") if isinstance(event.get("job"), dict) else {}
        check_facets(idx, "run.facets", "run.facets", run.get("facets"))
        check_facets(idx, "job.facets", "job.facets", job.get("facets"))
        for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
            datasets = event.get(side)
            if not isinstance(datasets, list):
                continue
            for i, ds in enumerate(datasets):
                if isinstance(ds, dict):
                    check_facets(idx, f"{side}[{i}].facets", "facets", ds.get("facets"))
                    check_facets(idx, f"{side}[{i}].{extra}", extra, ds.get(extra))
        run_id = run.get("runId")
        if isinstance(run_id, str):
            runs.setdefault(run_id, []).append(
                (idx, event.get("eventType"), (job.get("namespace"), job.get("name")))
            )

    for run_id, events in runs.items():
        types = [t for _, t, _ in events]
        first_idx = events[0][0]
        if types[0] != "START":
            failures.append(f"run {run_id}: first event (event {first_idx}) is {types[0]!r}, not START")
        if types.count("START") != 1:
            failures.append(f"run {run_id}: {types.count('START')} START events, expected 1")
        terminal = [(i, t) for i, t, _ in events if t in TERMINAL]
        if len(terminal) != 1 or terminal[0][1] not in ("COMPLETE", "FAIL"):
            failures.append(
                f"run {run_id}: expected exactly one COMPLETE or FAIL, got "
                f"{[t for _, t in terminal] or 'none'} (event types in order: {types})"
            )
        elif any(t not in ("OTHER",) for i, t, _ in events if i > terminal[0][0]):
            failures.append(f"run {run_id}: non-OTHER events after {terminal[0][1]}: {types}")
        jobs = {j for _, _, j in events}
        if len(jobs) != 1:
            failures.append(f"run {run_id}: events name different jobs {sorted(map(str, jobs))}")
        if None in types:
            failures.append(f"run {run_id}: an event has no eventType")

    if n_events == 0:
        failures.append(f"{path}: no events")
    if failures:
        for failure in failures:
            print(failure)
        print(f"FAILED: {len(failures)} failure(s) in {n_events} events, {n_facets} facets")
        return 1
    print(f"validated {n_events} events, {n_facets} facets")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
