"""What each cross-agency view reads, declared once.

`sharing.views` builds each view from these datasets, and the views DAG (`lienthong.airflow.dags`) is
scheduled on their Assets. A light module (no pyarrow, no SQL): DAG parsing imports it, not the views.
"""

from __future__ import annotations

INPUTS: dict[str, tuple[str, ...]] = {
    "enterprise_profile": ("enterprises", "taxpayers", "parcels", "permits", "branches"),
    "parcel_profile": ("parcels", "land_certificates", "permits", "tax_notices"),
    "tax_obligations": ("tax_notices", "payment_receipts"),
    "taxpayer_obligations": ("tax_notices", "payment_receipts"),
    "parcel_obligations": ("tax_notices", "payment_receipts"),
}


def every_input() -> tuple[str, ...]:
    """Each dataset some view reads, once, in the order first named."""
    return tuple(dict.fromkeys(d for inputs in INPUTS.values() for d in inputs))
