"""Connectors: pulling records out of agency systems.

Belongs here: the SOAP client (zeep, plus the lxml bulk path), the REST client (httpx), pagination
strategies, cursors and sync state, auth, retries, and one declarative source file per agency system
(`connectors/sources/*.yaml`). A connector yields pyarrow RecordBatches and returns the new state; it
never saves state itself (publishing commits it with the data).

Does not belong here: contracts and normalisation (`schemas`), validation (`quality`), publishing
(`sharing`), anything Airflow-specific (`dags`).

API
---

    import connectors

    source = connectors.load_source("tax")          # or a path to a YAML source file
    extraction = connectors.read(source, "taxpayers", state=None)   # state: the dict a previous run returned
    for batch in extraction:                        # pyarrow.RecordBatch, one per page
        ...
    new_state = extraction.state                    # JSON-able; commit it with the data, never before

- `load_source(path_or_name, environ=None) -> SourceConfig`: reads `connectors/sources/<name>.yaml` (or a
  path) into the typed models of `connectors.declarations` (`connectors.config.read_source`, which never
  reads the environment); a bad key raises `ConfigError` naming the file and the key's path. Then it
  resolves the endpoint: `LIENTHONG_AGENCY_<NAME>_URL` overrides it (`connectors.config.resolve_endpoint`).
  The JSON Schema of a source file is `schemas/json/source.schema.json` (`make json-schemas`).
- `read(source, stream, state=None, *, full_refresh=False, client=None, known_keys=None) -> Extraction`.
  `client`: an `httpx.Client` to use instead of the one built from the source file (its auth is used as
  it is). `known_keys`: for reconciled streams, the keys the caller holds (default: the state's).
  `Extraction.stats` counts pages, rows, skipped duplicates, error rows, deletes, requests and retries.

Batch columns: the stream's wire field names as in `agencies/PROTOCOL.md` (camelCase for SOAP,
snake_case for REST), typed by the source file (`string`, `int64`, `float64`, `decimal128(P,S)`, `bool`,
`timestamp` = timestamp[us, tz=UTC]; business dates stay strings as written), then:

| column | type | meaning |
|---|---|---|
| `_source` | string | the source (agency) name |
| `_stream` | string | the stream (dataset) name |
| `_page` | string | the page that produced the row: `offset=N`, a page token or next link, `reconcile:N` |
| `_deleted` | bool | a tombstone, or a key found gone by key-set reconciliation (then only the key fields are set) |
| `_error` | string | null when every value coerced; else `field: why` for each bad field, joined by `; ` |
| `_raw` | string | the record as the agency sent it, as JSON text |

State (`connectors.state`): `{"version", "cursor", "tie_keys", "known_keys"? or "known_keys_zlib"?,
"reconciled_at"?}` (a key set over 10,000 keys is stored zlib-compressed, base64). The
next sync asks from `cursor` (inclusive) and drops keys in `tie_keys` at that instant, so nothing is
doubled; `lookback_minutes` re-reads a window for late updates. Reconciled streams (business,
construction: deletes show as absence) keep the live key set and emit the keys that have gone.

Errors (`connectors.errors`): `SourceUnavailable`, `MalformedResponse`, `PaginationLoop`, `SoapServerFault`
(Retriable, raised after the retries are used up), `HostileResponse` (DTD/entities/external references,
an oversized body), `AuthRefused`, `RequestRejected`, `StateError` (Fatal). Each names the source, the
operation and the page, with a redacted excerpt; no secret value is ever logged or put in a message.

SOAP (docs/soap.md): zeep loads the WSDL (fetched by our own HTTP client, remote imports resolved by the
source's `soap.catalog`: exact entries, `rewriteURI` prefixes, OASIS catalog files, the SOAP encoding
schema built in) with `forbid_dtd`, `forbid_entities` and `forbid_external` on and `strict` parsing; a
reply holding `<!DOCTYPE` or `<!ENTITY` is refused before any parser sees it, and every reply is checked
(connectors/soapreply.py, connectors/soap.py): HTML or text behind a 200, a lying encoding, a Body
without the operation's response, a records path matching nothing, a changed X-Road `id` are errors. Streams with
`bulk: true` (the default for the simulated agencies) read replies with `connectors.bulk` (lxml
iterparse driven by the WSDL's types: the same values zeep gives, 5x faster). Where zeep would lose
data the bulk path keeps it: an unconvertible value stays as text (so `_error` flags it; zeep gives
None) and an undeclared element (drift) is kept in `_raw` (strict zeep refuses the page).

Limits: `limits.concurrency` and `limits.rate_per_second` are shared by every extraction of a source in
the process (a semaphore and a token bucket); pages of one stream are read in order, since each page's
token comes from the one before: REST and SOAP share one page loop, `connectors.pagination.walk`, which
refuses a next page already followed (PaginationLoop). Retries: `retry.attempts`, exponential backoff with full jitter,
Retry-After honoured (capped by `retry.max_retry_after_seconds`).

CLI: `lienthong extract SOURCE [--stream S] [--full-refresh] [--state FILE] --out DIR` (`connectors.cli`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.config import SourceConfig, StreamConfig, load_source
    from connectors.extract import Extraction, read

__all__ = ["Extraction", "SourceConfig", "StreamConfig", "load_source", "read"]

# Imported on first use: `lienthong --help` finds `connectors.cli` through this package.
_WHERE = {"SourceConfig": "connectors.config", "StreamConfig": "connectors.config",
          "load_source": "connectors.config", "Extraction": "connectors.extract", "read": "connectors.extract"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'connectors' has no attribute {name!r}")
