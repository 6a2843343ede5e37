"""`AgencyHook`: an agency system's source, with what its Airflow connection says about where and who.

One connection per source, `lienthong_<source>` (e.g. `AIRFLOW_CONN_LIENTHONG_TAX` as a JSON or URI):
- endpoint: its `host` holds the full URL, or host/port/schema make one (conn type `https` -> https);
  without a host, `LIENTHONG_AGENCY_<SOURCE>_URL`, else the source file's `endpoint`;
- credentials: a `password` replaces the secret the source file names (as a reference to this
  connection's field, resolved when the connector opens, so the value is never copied); a `login`
  replaces the user name or client id. Without them the file's references stand.
The connection is looked up when a task asks for the source (`get_conn`), never when the hook is made,
so a DAG file can build one at parse time for nothing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.hook import BaseHook

if TYPE_CHECKING:
    from airflow.sdk.definitions.connection import Connection

    from connectors.config import SourceConfig


class AgencyHook(BaseHook):
    """The source `source` with its endpoint and credentials resolved from Airflow connection `conn_id`."""

    conn_name_attr = "agency_conn_id"
    default_conn_name = "lienthong_default"
    conn_type = "http"
    hook_name = "lienthong agency system"

    def __init__(self, source: str, conn_id: str | None = None, *,
                 environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.source = source
        self.agency_conn_id = conn_id or f"lienthong_{source}"
        self._environ = environ
        self._connection: Connection | None = None
        self._looked_up = False

    @property
    def connection(self) -> Connection | None:
        """The source's Airflow connection, or None when there is none (looked up once)."""
        if not self._looked_up:
            try:
                self._connection = self.get_connection(self.agency_conn_id)
            except Exception:  # Airflow's not-found type differs between its execution paths
                self._connection = None
            self._looked_up = True
        return self._connection

    def endpoint_override(self) -> str | None:
        """The endpoint URL the connection holds, or None (no connection, or one without a host)."""
        conn = self.connection
        host = ((conn.host if conn else None) or "").strip()
        if conn is None or not host:
            return None
        if "://" in host:
            return host.rstrip("/")
        scheme = "https" if conn.conn_type == "https" else "http"
        port = f":{conn.port}" if conn.port else ""
        path = f"/{conn.schema.strip('/')}" if conn.schema else ""
        return f"{scheme}://{host}{port}{path}"

    def get_conn(self) -> SourceConfig:
        """The source as a run calls it: endpoint from the connection, the variable or the file; the
        connection's credentials over the file's."""
        from connectors.config import read_source, resolve_endpoint
        from core.settings import load_settings

        source = read_source(self.source)
        override = self.endpoint_override() or load_settings(
            os.environ if self._environ is None else self._environ).agency_urls.get(source.name)
        source = resolve_endpoint(source, override)
        auth = self._credentials(source.auth)
        return source if auth is source.auth else dataclasses.replace(source, auth=auth)

    def _credentials(self, auth: Any) -> Any:
        from connectors.config import SecretRef

        conn = self.connection
        if conn is None:
            return auth
        changes: dict[str, Any] = {}
        if conn.password and hasattr(auth, "secret"):
            changes["secret"] = SecretRef(airflow_conn=self.agency_conn_id, conn_field="password")
        if conn.login:
            for name in ("username", "client_id"):
                if hasattr(auth, name):
                    changes[name] = conn.login
        return dataclasses.replace(auth, **changes) if changes else auth
