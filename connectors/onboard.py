"""The data engineer's guided path: `lienthong source init` drafts declaration files from a service
description, `lienthong source check` validates a source file and shows what its first page holds.

    lienthong source init customs --from-openapi https://customs.example/openapi.json --out registry
    lienthong source init cadastre --from-wsdl https://cadastre.example/ws?wsdl --out registry
    lienthong source check registry/sources/customs.yaml

`init` writes a registry directory (`sources/NAME.yaml`, `contracts/STREAM.yaml`): a draft to read and
edit, never final (which field is the key, which zone the times are in, which transform a column
wants are decisions, not facts of the description). `check` connects, reads the first page of each
stream, and compares what it saw with the source file and the contract: fields sent but not declared,
declared but not sent, contract columns that would be empty, values that do not coerce, and a sample
row after the contract's transforms. It exits 1 when something needs fixing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click
import yaml

from core.errors import ConfigError

_TYPES = {"integer": "int64", "number": "float64", "boolean": "bool"}
_WIRE = {"int64": "int", "float64": "float", "bool": "bool", "timestamp": "timestamp", "string": "string",
         "decimal128(18,2)": "decimal"}
_ARROW = {"int64": "int64", "float64": "float64", "bool": "bool", "timestamp": "timestamp[us, UTC]",
          "string": "string", "decimal128(18,2)": "decimal128(14,2)"}
_TRANSFORM = {"int64": "int", "float64": "copy", "bool": "bool", "timestamp": "timestamp", "string": "text",
              "decimal128(18,2)": "area"}
_SINCE = re.compile(r"(since|from|_tu$|^tu_|_tu_|changed|updated|modified|cap_nhat)", re.IGNORECASE)
_CURSOR_FIELD = re.compile(r"(updated|modified|changed|cap_nhat|ghi_so|thoi_diem)", re.IGNORECASE)
_KEY_FIELD = re.compile(r"(^id$|_id$|_no$|^so_|code$|^ma_)", re.IGNORECASE)


# --- init: a draft from an OpenAPI document ------------------------------------------------------

def _read_document(where: str) -> dict[str, Any]:
    """An OpenAPI document from a file or an http(s) URL (JSON or YAML)."""
    if where.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(where, timeout=30, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ConfigError(f"{where}: cannot read the service description: {exc}") from None
        text = response.text
    else:
        try:
            text = Path(where).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read the service description: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not JSON or YAML: {exc}") from None
    if not isinstance(document, dict) or not ("openapi" in document or "swagger" in document):
        raise ConfigError(f"{where}: not an OpenAPI document (no 'openapi' key)")
    return document


def _resolve(document: Mapping[str, Any], node: Any) -> Any:
    """Follow local `$ref`s (`#/components/schemas/X`)."""
    seen = 0
    while isinstance(node, Mapping) and "$ref" in node and seen < 20:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            raise ConfigError(f"remote $ref {ref!r} is not supported; download the document with its parts")
        target: Any = document
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        node, seen = target, seen + 1
    return node


def _records_at(document: Mapping[str, Any], schema: Any, prefix: str = "") -> tuple[str, Any] | None:
    """Where the list of records is in a reply schema: `$` (bare list), a field, or a dotted path."""
    schema = _resolve(document, schema)
    if not isinstance(schema, Mapping):
        return None
    if schema.get("type") == "array":
        items = _resolve(document, schema.get("items", {}))
        if isinstance(items, Mapping) and (items.get("type") == "object" or "properties" in items):
            return (prefix or "$"), items
        return None
    for name, prop in (schema.get("properties") or {}).items():
        found = _records_at(document, prop, f"{prefix}{name}" if not prefix else f"{prefix}.{name}")
        if found is not None:
            return found
    return None


def _fields(document: Mapping[str, Any], schema: Any, prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """(dotted field name, source file type, property schema) of a record schema; nested objects flattened."""
    schema = _resolve(document, schema)
    for name, prop in (schema.get("properties") or {}).items():
        prop = _resolve(document, prop)
        path = f"{prefix}{name}"
        if isinstance(prop, Mapping) and (prop.get("type") == "object" or "properties" in prop):
            yield from _fields(document, prop, path + ".")
            continue
        kind = prop.get("type") if isinstance(prop, Mapping) else None
        if kind == "string" and prop.get("format") == "date-time":
            yield path, "timestamp", prop
        elif isinstance(kind, str) and kind in _TYPES:
            yield path, _TYPES[kind], prop
        else:
            yield path, "string", prop


def _pagination(params: list[Mapping[str, Any]], headers: Mapping[str, Any]) -> dict[str, Any]:
    names = {str(p.get("name")) for p in params}
    size = next((n for n in names if re.search(r"(limit|size|per_page|so_ban_ghi|pagesize)", n, re.I)), None)
    base: dict[str, Any] = {"limit_param": size} if size else {}
    if any(h.lower() == "link" for h in headers):
        return {"style": "link_header", **base}
    if "offset" in names:
        return {"style": "offset", "offset_param": "offset", **base}
    page = next((n for n in names if re.fullmatch(r"(page|trang|page_number|pageNumber)", n)), None)
    if page:
        return {"style": "page", "page_param": page, **base}
    cursor = next((n for n in names if "cursor" in n.lower() or "token" in n.lower()), None)
    if cursor:
        return {"style": "cursor", "cursor_param": cursor, "cursor_field": "next_cursor", **base}
    return {"style": "none"}


def _auth(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    schemes = ((document.get("components") or {}).get("securitySchemes") or {})
    secret = {"env": f"{name.upper()}_SECRET"}
    for scheme in schemes.values():
        kind = scheme.get("type")
        if kind == "http" and scheme.get("scheme") == "basic":
            return {"type": "basic", "username": "CHANGE-ME", "secret": secret}
        if kind == "http" and scheme.get("scheme") == "bearer":
            return {"type": "bearer", "secret": secret}
        if kind == "apiKey" and scheme.get("in") == "header":
            return {"type": "api_key", "header": scheme.get("name", "X-API-Key"), "secret": secret}
        if kind == "oauth2" and "clientCredentials" in (scheme.get("flows") or {}):
            flow = scheme["flows"]["clientCredentials"]
            return {"type": "oauth2_client_credentials", "token_url": flow.get("tokenUrl", "/oauth/token"),
                    "client_id": "CHANGE-ME", "secret": secret}
    return {"type": "none"}


def _stream_name(path: str) -> str:
    parts = [p for p in re.split(r"[/{}]+", path) if p and not re.fullmatch(r"(api|v\d+)", p)]
    return re.sub(r"[^a-z0-9]+", "_", (parts[-1] if parts else "records").lower()).strip("_") or "records"


def draft_from_openapi(name: str, where: str, endpoint: str | None = None) -> tuple[dict[str, Any],
                                                                                   dict[str, dict[str, Any]]]:
    """(source document, {dataset: contract document}) drafted from an OpenAPI description."""
    document = _read_document(where)
    servers = document.get("servers") or []
    base = endpoint or (servers[0].get("url") if servers and isinstance(servers[0], Mapping) else None)
    if not base and where.startswith(("http://", "https://")):
        from urllib.parse import urlsplit

        parts = urlsplit(where)
        base = f"{parts.scheme}://{parts.netloc}"
    streams: dict[str, Any] = {}
    contracts: dict[str, dict[str, Any]] = {}
    for path, item in (document.get("paths") or {}).items():
        op = (item or {}).get("get")
        if not isinstance(op, Mapping) or "{" in path:
            continue
        reply = ((op.get("responses") or {}).get("200") or (op.get("responses") or {}).get(200) or {})
        schema = ((reply.get("content") or {}).get("application/json") or {}).get("schema")
        found = _records_at(document, schema) if schema is not None else None
        if found is None:
            continue
        records, item_schema = found
        fields = {f: t for f, t, _ in _fields(document, item_schema)}
        if not fields:
            continue
        params = [_resolve(document, p) for p in op.get("parameters") or []]
        required = set(_resolve(document, item_schema).get("required") or [])
        key = next((f for f in fields if f in required and _KEY_FIELD.search(f)), next(iter(fields)))
        stream: dict[str, Any] = {"path": path, "records": records,
                                  "pagination": _pagination(params, reply.get("headers") or {}),
                                  "primary_key": key}
        since = next((str(p["name"]) for p in params if p.get("in") == "query" and _SINCE.search(str(p["name"]))),
                     None)
        cursor = next((f for f, t in fields.items() if t == "timestamp"), None) or \
            next((f for f in fields if _CURSOR_FIELD.search(f)), None)
        if since and cursor:
            if fields[cursor] == "string":
                fields[cursor] = "timestamp"
            stream["incremental"] = {"cursor_field": cursor, "param": since}
        booleans = [f for f, t in fields.items() if t == "bool" and re.search(r"(deleted|huy|removed)", f, re.I)]
        if booleans:
            stream["deletes"] = {"mode": "tombstone", "field": booleans[0]}
        stream["fields"] = fields
        dataset = _stream_name(path)
        streams[dataset] = stream
        contracts[dataset] = _draft_contract(name, dataset, stream, cursor, booleans[0] if booleans else None)
    if not streams:
        raise ConfigError(f"{where}: no GET operation answers a list of records (a bare list or a list inside "
                          "an object); nothing to draft")
    source = {"source": name, "protocol": "rest",
              "description": str((document.get("info") or {}).get("title") or name),
              "endpoint": base or "http://CHANGE-ME", "timezone": "Asia/Ho_Chi_Minh",
              "auth": _auth(document, name), "streams": streams}
    return source, contracts


def _xsd_kind(xsd_type: Any) -> str:
    """A source file type from an XSD type (by the Python type zeep reads it as)."""
    accepted = getattr(xsd_type, "accepted_types", None) or [str]
    python = accepted[0]
    if python is bool:
        return "bool"
    if python is int:
        return "int64"
    if python is float:
        return "float64"
    if getattr(python, "__name__", "") == "datetime":
        return "timestamp"
    if getattr(python, "__name__", "") == "Decimal":
        return "decimal128(18,2)"
    return "string"


def _xsd_fields(xsd_type: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    for name, element in getattr(xsd_type, "elements", []):
        child = element.type
        if getattr(child, "elements", None):  # a nested complex type: its leaves by dotted path
            yield from _xsd_fields(child, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", _xsd_kind(child)


def draft_from_wsdl(name: str, where: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(source document, {dataset: contract document}) from a WSDL: one stream per operation whose reply
    holds a repeated complex element; page tokens and a dateTime `since` argument are recognised."""
    import zeep
    from zeep.exceptions import Error as ZeepError

    try:
        client = zeep.Client(where)  # type: ignore[no-untyped-call]
    except (ZeepError, OSError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot read the WSDL: {exc}") from None
    streams: dict[str, Any] = {}
    contracts: dict[str, dict[str, Any]] = {}
    endpoint = None
    for service in client.wsdl.services.values():
        for port in service.ports.values():
            endpoint = endpoint or port.binding_options.get("address")
            for op_name, op in port.binding._operations.items():
                inputs = dict(op.input.body.type.elements) if op.input.body is not None else {}
                outputs = op.output.body.type.elements if op.output.body is not None else []
                repeated = [(n, e) for n, e in outputs
                            if e.max_occurs == "unbounded" and getattr(e.type, "elements", None)]
                if not repeated:
                    continue
                records, element = repeated[0]
                fields = dict(_xsd_fields(element.type))
                required = [n for n, e in element.type.elements if e.min_occurs >= 1]
                key = next((f for f in required if _KEY_FIELD.search(f) or f.lower().endswith(("code", "no"))),
                           required[0] if required else next(iter(fields)))
                stream: dict[str, Any] = {"operation": op_name, "records": records, "primary_key": key}
                token_in = next((n for n in inputs if "token" in n.lower() or "cursor" in n.lower()), None)
                token_out = next((n for n, _ in outputs if "token" in n.lower() or "cursor" in n.lower()), None)
                size = next((n for n in inputs if re.search(r"(size|limit)", n, re.I)), None)
                if token_in and token_out:
                    stream["pagination"] = {"style": "token", "cursor_field": token_out, "cursor_param": token_in,
                                            **({"limit_param": size} if size else {})}
                since = next((n for n, e in inputs.items() if _xsd_kind(e.type) == "timestamp"), None)
                cursor = next((f for f, t in fields.items() if t == "timestamp" and _CURSOR_FIELD.search(f)), None)
                if since and cursor:
                    stream["incremental"] = {"cursor_field": cursor, "param": since}
                flags = [f for f, t in fields.items() if t == "bool" and re.search(r"(deleted|huy|removed)", f, re.I)]
                if flags:
                    stream["deletes"] = {"mode": "tombstone", "field": flags[0]}
                stream["fields"] = fields
                dataset = re.sub(r"[^a-z0-9]+", "_", records.lower()).strip("_") + "s"
                streams[dataset] = stream
                contracts[dataset] = _draft_contract(name, dataset, stream, cursor, flags[0] if flags else None)
    if not streams:
        raise ConfigError(f"{where}: no operation answers a repeated complex element; nothing to draft")
    source = {"source": name, "protocol": "soap", "description": name, "endpoint": endpoint or "http://CHANGE-ME",
              "soap": {"wsdl": where}, "timezone": "Asia/Ho_Chi_Minh", "auth": {"type": "none"},
              "streams": streams}
    return source, contracts


def _column_name(field: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", field.lower()).strip("_")


def _draft_contract(source: str, dataset: str, stream: dict[str, Any], cursor: str | None,
                    tombstone: str | None) -> dict[str, Any]:
    columns = []
    for field, kind in stream["fields"].items():
        column: dict[str, Any] = {"name": _column_name(field), "type": _ARROW[kind], "source": field,
                                  "transform": _TRANSFORM[kind],
                                  "description": {"vi": field, "en": field}}
        if field in (stream["primary_key"], cursor, tombstone):
            column["nullable"] = False
        columns.append(column)
    key = _column_name(stream["primary_key"])
    for column in columns:
        if column["name"] == key:
            column["transform"] = "code"
            column["expect"] = {"unique": True}
    document: dict[str, Any] = {
        "dataset": dataset, "version": 1,
        "description": {"vi": f"Bản nháp từ {source}", "en": f"Draft from {source}"},
        "source": {"agency": source, "stream": dataset,
                   "fields": {f: _WIRE[k] for f, k in stream["fields"].items()}},
        "primary_key": [key], "cursor": _column_name(cursor) if cursor else key,
        "drift_policy": "quarantine", "failure_threshold": 0.1, "columns": columns,
    }
    if tombstone:
        document["tombstone"] = _column_name(tombstone)
    return document


# --- check: the file, then its first page --------------------------------------------------------

def _flat(record: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in record.items():
        if isinstance(value, Mapping):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def check_source(path: Path, environ: Mapping[str, str] | None = None) -> tuple[list[str], int]:
    """Report lines and the number of problems: the file validates, each stream's first page is read and
    compared with the declared fields and the stream's contract."""
    import pyarrow as pa

    from connectors.coerce import Coercer
    from connectors.config import load_source
    from connectors.open import open_reader
    from connectors.secrets import Redactor
    from schemas.contract import contract_for_stream
    from schemas.mapping import map_batch

    source = load_source(path, environ)  # a bad key: ConfigError naming file and key path
    lines = [f"{path}: valid; {source.protocol} source {source.name!r} at {source.endpoint}"]
    problems = 0
    redactor = Redactor()
    with open_reader(source, redactor, None, environ) as (reader, _):
        for stream in source.streams.values():
            page = next(iter(reader.pages(stream, None)), None)
            records = list(page.records) if page is not None else []
            lines.append(f"stream {stream.name}: first page {page.label if page else '-'}: {len(records)} records")
            if not records:
                problems += 1
                lines.append("  PROBLEM no records on the first page: nothing to compare")
                continue
            seen = sorted({f for r in records for f in _flat(r)})
            declared = list(stream.fields)
            unmapped = [f for f in seen if f not in stream.fields]
            missing = [f for f in declared if f not in seen]
            lines.append(f"  fields seen: {', '.join(seen)}")
            if unmapped:
                lines.append(f"  note: sent but not declared (not read): {', '.join(unmapped)}")
            if missing:
                problems += 1
                lines.append(f"  PROBLEM declared but not sent: {', '.join(missing)}")
            from zoneinfo import ZoneInfo

            batch = Coercer(source.name, stream.name, stream.fields, zone=ZoneInfo(source.timezone)).batch(
                records, page.label if page else "first")
            errors = [e for e in batch.column("_error").to_pylist() if e]
            if errors:
                problems += 1
                lines.append(f"  PROBLEM {len(errors)} of {len(records)} records do not fit the declared types; "
                             f"first: {errors[0]}")
            try:
                contract = contract_for_stream(source.name, stream.name)
            except ConfigError:
                lines.append("  no contract reads this stream yet (contracts/DATASET.yaml with source.agency "
                             f"{source.name}, source.stream {stream.name})")
                continue
            lines.append(f"  contract {contract.dataset} v{contract.version}")
            for col in contract.columns:
                wire = col.source or next((s.inputs for s in contract.steps
                                           if col.step and col.step.startswith(s.name + ".")), ())
                absent = [f for f in wire if f not in seen]
                if absent and not col.nullable:
                    problems += 1
                    lines.append(f"  PROBLEM required column {col.name} is made from {', '.join(absent)}, "
                                 "which the page does not have")
            mapped = map_batch(pa.Table.from_batches([batch]), contract)
            for failure in mapped.failures:
                bad = [r for r in failure.reason.to_pylist() if r]
                if bad:
                    problems += 1
                    lines.append(f"  PROBLEM {len(bad)} values of {failure.field} fail {failure.column}: {bad[0]}")
            sample = mapped.table.slice(0, 1).to_pylist()
            if sample:
                lines.append("  sample after transforms: " + json.dumps(sample[0], default=str, ensure_ascii=False))
    lines.append("ok" if problems == 0 else f"{problems} problem(s)")
    return lines, problems


# --- the CLI -------------------------------------------------------------------------------------

@click.group()
def source() -> None:
    """Bring a new system in: draft its declaration files, check them against the live system."""


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is under it (shorter lines), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@source.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(as_json: bool) -> None:
    """Every declared stream (`source/stream`, of connectors/sources and the registries LIENTHONG_REGISTRY
    names): protocol, endpoint (after LIENTHONG_AGENCY_<SOURCE>_URL), cursor, deletes, file."""
    from connectors.config import load_source, source_files
    from core.listing import emit

    rows = []
    for path in source_files().values():
        declared = load_source(path)
        for stream in declared.streams.values():
            rows.append({"stream": f"{declared.name}/{stream.name}", "protocol": declared.protocol,
                         "endpoint": declared.endpoint,
                         "cursor": stream.incremental.cursor_field if stream.incremental else None,
                         "deletes": stream.deletes.mode, "file": _shown(path)})
    emit(rows, ["stream", "protocol", "endpoint", "cursor", "deletes", "file"], as_json=as_json, title="sources",
         empty="no source declared")


@source.command("init")
@click.argument("name")
@click.option("--from-openapi", "openapi", metavar="FILE|URL", help="An OpenAPI 3 (or Swagger 2) document.")
@click.option("--from-wsdl", "wsdl", metavar="FILE|URL", help="A WSDL (SOAP 1.1/1.2).")
@click.option("--endpoint", help="The base URL, when the document names no server.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("registry"), show_default=True,
              help="A registry directory: writes sources/NAME.yaml and contracts/DATASET.yaml.")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(name: str, openapi: str | None, wsdl: str | None, endpoint: str | None, out: Path, force: bool) -> None:
    """Write a draft source file and contracts for NAME from a service description."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise click.BadParameter("lower case letters, digits and _ (it names the DAG, the pool, the variables)",
                                 param_hint="NAME")
    if (openapi is None) == (wsdl is None):
        raise click.UsageError("give one of --from-openapi, --from-wsdl")
    if wsdl is not None:
        document, contracts = draft_from_wsdl(name, wsdl)
        if endpoint:
            document["endpoint"] = endpoint
    else:
        assert openapi is not None
        document, contracts = draft_from_openapi(name, openapi, endpoint)
    targets = {out / "sources" / f"{name}.yaml": document,
               **{out / "contracts" / f"{d}.yaml": c for d, c in contracts.items()}}
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise click.ClickException(f"{', '.join(existing)} exist; pass --force to overwrite")
    for target, content in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        header = "# A draft from the service description: read every line, decide the key, the zone, the transforms.\n"
        target.write_text(header + yaml.safe_dump(content, allow_unicode=True, sort_keys=False, width=110),
                          encoding="utf-8")
        click.echo(f"wrote {target}")


@source.command("check")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def check(file: Path) -> None:
    """Validate FILE, read each stream's first page, compare it with the file and the contract."""
    lines, problems = check_source(file)
    for line in lines:
        click.echo(line)
    if problems:
        raise SystemExit(1)
