"""The lookup API: agencies query shared records, authorised by a policy file, masked, audited.

`policy` (who may read what, why), `auth` (API keys, purposes), `masking` (personal data hidden unless
granted), `audit` (a hash-chained log of every request), `ratelimit`, `cursor` (signed page cursors),
`queries` (SQLAlchemy Core lookups), `routes` and `app` (FastAPI), `cli` (`lienthong serve`, `lienthong audit`).
"""
