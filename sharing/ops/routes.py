"""The dashboard's pages under /ops: sources, charts, quarantine, drift, audit; login and the two actions.

Every page needs an operator session; every POST form carries the session's CSRF token. Operator actions
go through the lookup API's audit middleware like any request: the handler names the operator and what
was done in the request's audit entry, so an approval is in the hash chain before its answer leaves.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from sharing import i18n
from sharing.api import audit
from sharing.api.state import entry_of, state_of
from sharing.ops import charts, data
from sharing.ops.auth import LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECONDS, OpsState
from sharing.ops.services import OpsServices

HERE = Path(__file__).parent
PREFIX = "/ops"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
# Pages use only their own origin's assets; the charts are inline SVG, so no script is needed at all.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Session:
    operator: str
    csrf: str


class _LoginNeeded(Exception):
    pass


class _BadCsrf(Exception):
    pass


def ops_of(request: Request) -> OpsState:
    state: OpsState = request.app.state.lienthong_ops
    return state


def services_of(request: Request) -> OpsServices:
    services: OpsServices = request.app.state.lienthong_services
    return services


def _session(request: Request) -> Session:
    payload = ops_of(request).unsign(request.cookies.get(SESSION_COOKIE))
    if payload is None:
        raise _LoginNeeded
    session = Session(str(payload["op"]), str(payload["csrf"]))
    entry = entry_of(request)
    entry.client, entry.purpose = f"operator:{session.operator}", "operations"
    return session


async def _form(request: Request, session: Session | None) -> dict[str, str]:
    """The posted form, once its CSRF token is checked against the session's (or the login cookie's)."""
    fields = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    expected = session.csrf if session else (ops_of(request).unsign(request.cookies.get(LOGIN_COOKIE)) or {}).get(
        "csrf")
    if not expected or not secrets.compare_digest(fields.get("csrf", ""), str(expected)):
        raise _BadCsrf
    return fields


def language(request: Request) -> str:
    """Vietnamese unless the operator chose English (`?lang=en`, remembered in a cookie)."""
    return i18n.choose_language(request.query_params.get("lang"), request.cookies.get(i18n.LANG_COOKIE))


def _page(request: Request, template: str, session: Session | None, status: int = 200,
          **context: Any) -> HTMLResponse:
    lang = language(request)
    other = "en" if lang == "vi" else "vi"
    switch = str(request.url.include_query_params(lang=other).remove_query_params("msg"))
    html = templates.get_template(template).render(
        prefix=PREFIX, session=session, message=request.query_params.get("msg", ""), lang=lang,
        _=i18n.translator(lang), other_lang=other, other_lang_name=i18n.LANGUAGE_NAMES[other],
        switch_url=switch[len(str(request.base_url)) - 1:], **context)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", path=PREFIX)
    return response


def _redirect(path: str, message: str = "") -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}{path}" + (f"?{urlencode({'msg': message})}" if message else ""),
                            status_code=303, headers=SECURITY_HEADERS)


# --- login -------------------------------------------------------------------------------------------

def _login_form(request: Request, status: int = 200, error: bool = False) -> HTMLResponse:
    ops = ops_of(request)
    token = secrets.token_hex(16)
    response = _page(request, "login.html", None, status=status, csrf=token, error=error,
                     configured=bool(ops.operators))
    response.set_cookie(LOGIN_COOKIE, ops.sign({"csrf": token, "exp": time.time() + 3600}), httponly=True,
                        samesite="strict", path=PREFIX, secure=request.url.scheme == "https")
    return response


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return _login_form(request)


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await _form(request, None)
    name = fields.get("operator", "")
    token = await run_in_threadpool(ops_of(request).login, name, fields.get("password", ""))
    entry = entry_of(request)
    entry.client, entry.purpose = f"operator:{name[:80]}", "operations"
    if token is None:
        entry.detail = "login refused"
        return _login_form(request, status=401, error=True)
    entry.detail = "logged in"
    response = _redirect("/")
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                        path=PREFIX, secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await _form(request, _session(request))
    entry_of(request).detail = "logged out"
    response = RedirectResponse(f"{PREFIX}/login", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


# --- pages -------------------------------------------------------------------------------------------

@router.get("/")
def overview(request: Request) -> HTMLResponse:
    from schemas.contract import contracts
    from sharing.catalog import list_datasets

    session = _session(request)
    state = state_of(request)
    engine = state.engine
    _ = i18n.translator(language(request))
    statuses = data.source_statuses(engine, services_of(request).sources())
    series = data.run_series(engine)
    catalog = {e.name: e for e in list_datasets(state.url)}
    known = contracts()
    names = sorted({*series, *catalog})
    time_label = _("time (UTC)")
    panels = [{
        "name": name, "contract": known.get(name), "entry": catalog.get(name),
        "plots": [
            charts.small_chart(_("Records per run"), _("records"), time_label,
                               series[name]["records"] if name in series else data.Series(name, []), _("no runs yet")),
            charts.small_chart(_("Quarantine rate"), _("% quarantined"), time_label,
                               series[name]["quarantine_rate"] if name in series else data.Series(name, []),
                               _("no runs yet")),
            charts.small_chart(_("Sync duration"), _("seconds"), time_label,
                               series[name]["seconds"] if name in series else data.Series(name, []),
                               _("no runs yet")),
        ]} for name in names]
    from sharing.holds import list_holds

    return _page(request, "overview.html", session, statuses=statuses, panels=panels, holds=list_holds(state.url),
                 counts=data.first_page_counts(engine), late=sum(1 for s in statuses if s.late),
                 airflow_url=ops_of(request).airflow_url, late_hours=data.LATE_AFTER.total_seconds() / 3600)


@router.get("/quarantine")
def quarantine_page(request: Request, dataset: str = "", rule: str = "", run_id: str = "",
                    status: str = "quarantined", page: int = 1, size: int = data.PAGE_SIZE) -> HTMLResponse:
    session = _session(request)
    engine = state_of(request).engine
    where = data.QuarantineFilter(dataset, rule, run_id, status if status in ("quarantined", "released", "") else "")
    size = min(max(size, 5), 500)
    page = max(1, page)
    total, rows = data.quarantined(engine, where, limit=size, offset=(page - 1) * size)
    pages = max(1, -(-total // size))

    def page_url(number: int) -> str:
        query = {k: v for k, v in (("dataset", dataset), ("rule", rule), ("run_id", run_id)) if v}
        sized = {"size": size} if size != data.PAGE_SIZE else {}
        return f"{PREFIX}/quarantine?" + urlencode({**query, "status": where.status, **sized, "page": number})

    return _page(request, "quarantine.html", session, where=where, total=total, rows=rows, page=page,
                 pages=pages, first=(page - 1) * size + 1 if rows else 0, last=(page - 1) * size + len(rows),
                 prev_url=page_url(page - 1) if page > 1 else "", next_url=page_url(page + 1) if page < pages else "",
                 choices=data.quarantine_choices(engine))


@router.get("/quarantine/{record_id}")
def quarantine_record(request: Request, record_id: int) -> HTMLResponse:
    from quality.store import get_quarantined

    session = _session(request)
    row = get_quarantined(state_of(request).engine, record_id)
    if row is None:
        return _page(request, "missing.html", session, status=404, record_id=record_id)
    from schemas.contract import contracts

    contract = contracts().get(row.dataset)
    columns = {c.name: c.description for c in contract.columns} if contract else {}
    return _page(request, "record.html", session, row=row, raw=data.pretty_json(row.raw),
                 failures=data.pretty_json(row.failures), column_text=columns.get(row.column or ""),
                 contract=contract)


@router.post("/quarantine/replay")
async def replay(request: Request) -> Response:
    session = _session(request)
    fields = await _form(request, session)
    ids = [int(i) for i in fields.get("ids", "").split(",") if i.strip().isdigit()]
    dataset = fields.get("dataset") or None
    _ = i18n.translator(language(request))
    if not ids and not dataset:
        return _redirect("/quarantine", _("Nothing to replay: choose a record or a dataset."))
    replay_records = services_of(request).replay
    if replay_records is None:
        entry_of(request).detail = "replay is not available"
        return _redirect("/quarantine", _("Replay is not available in this deployment (the app was built without it)."))
    result = await run_in_threadpool(replay_records, state_of(request).engine, dataset, ids or None)
    entry = entry_of(request)
    entry.params = {"ids": ids, "dataset": dataset}
    # the audit log in English (one language for searching it); the operator reads their own
    entry.detail = (f"Replay {result.run_id}: {len(result.released_ids)} released, "
                    f"{len(result.still_quarantined)} still quarantined.")
    message = _("Replay %(run)s: %(released)s released, %(still)s still quarantined.", run=result.run_id,
                released=len(result.released_ids), still=len(result.still_quarantined))
    return _redirect(f"/quarantine/{ids[0]}" if len(ids) == 1 else "/quarantine", message)


@router.get("/drift")
def drift_page(request: Request) -> HTMLResponse:
    from schemas.drift import list_drift

    session = _session(request)
    rows = list_drift(state_of(request).engine)
    return _page(request, "drift.html", session, open=[r for r in rows if r.status == "open"],
                 approved=[r for r in rows if r.status != "open"])


@router.post("/drift/{drift_id}/approve")
async def approve(request: Request, drift_id: int) -> Response:
    from schemas.drift import approve_drift, list_drift

    session = _session(request)
    await _form(request, session)
    engine = state_of(request).engine
    rows = {r.id: r for r in await run_in_threadpool(list_drift, engine)}
    row = rows.get(drift_id)
    _ = i18n.translator(language(request))
    if row is None:
        entry_of(request).detail = f"no drift {drift_id}"
        return _redirect("/drift", _("No drift %(id)s.", id=drift_id))
    await run_in_threadpool(approve_drift, engine, drift_id)
    what = f"drift {drift_id} approved: {row.dataset}.{row.field} ({row.kind}) from {row.source}"
    entry = entry_of(request)
    entry.params = {"drift_id": drift_id, "dataset": row.dataset, "field": row.field, "kind": row.kind}
    entry.detail = f"{what} by {session.operator}"
    return _redirect("/drift", _("Drift %(id)s approved: %(what)s from %(source)s.", id=drift_id,
                                 what=f"{row.dataset}.{row.field} ({row.kind})", source=row.source))


@router.get("/audit")
def audit_page(request: Request, all: str = "") -> HTMLResponse:
    session = _session(request)
    state = state_of(request)
    checked, problems = audit.verify(state.url)
    rows = data.audit_entries(state.engine, operations_only=not all)
    return _page(request, "audit.html", session, rows=rows, checked=checked, problems=problems,
                 show_all=bool(all))


# --- mounting ----------------------------------------------------------------------------------------

async def _to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse(f"{PREFIX}/login", status_code=303, headers=SECURITY_HEADERS)


async def _bad_csrf(request: Request, exc: Exception) -> Response:
    entry_of(request).detail = "CSRF token missing or wrong"
    _ = i18n.translator(language(request))
    return HTMLResponse(_("The form was stale or not ours: go back, reload the page and try again."),
                        status_code=403, headers=SECURITY_HEADERS)


def mount(app: FastAPI, ops: OpsState | None = None, services: OpsServices | None = None) -> None:
    """The dashboard on `app` under /ops; operators and the session secret from the environment by default."""
    app.state.lienthong_ops = ops or OpsState.from_environ()
    # the sources and the replay action, from the layer above (`sharing.ops.services`)
    app.state.lienthong_services = services or OpsServices()
    app.add_exception_handler(_LoginNeeded, _to_login)
    app.add_exception_handler(_BadCsrf, _bad_csrf)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="ops-static")
    app.include_router(router)
