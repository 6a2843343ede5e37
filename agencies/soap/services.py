"""The two SOAP services declared as data: namespaces, operations and record elements in wire order.

One table drives request parsing, response rendering and the tests; the WSDLs in `wsdl/` declare the
same names (a unit test checks that they agree).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XROAD_NS = "http://x-road.eu/xsd/xroad.xsd"
XROAD_HEADERS = ("client", "service", "userId", "id", "protocolVersion")
XROAD_REQUIRED = ("client", "service", "id", "protocolVersion")

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 5000

OperationKind = Literal["changes", "get", "keys"]
SoapAgency = Literal["land", "business"]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # the request element; the response element is name + "Response"
    kind: OperationKind
    dataset: str
    item: str  # the repeated element in the response: parcel, certificate, enterprise, code, ...
    key_params: tuple[str, ...] = ()  # get: the request elements that make the key, in key order
    int_params: frozenset[str] = frozenset()  # get: key elements typed xsd:int


@dataclass(frozen=True, slots=True)
class Service:
    agency: SoapAgency
    path: str
    namespace: str
    wsdl_file: str
    operations: Mapping[str, Operation]
    fields: Mapping[str, tuple[str, ...]]  # dataset -> record element names in xsd:sequence order


PARCEL_FIELDS = (
    "communeCode", "mapSheet", "parcelNumber", "provinceCode", "districtCode", "address", "areaM2",
    "landUseCode", "holderType", "holderId", "holderName", "updatedAt", "deleted",
)
CERTIFICATE_FIELDS = (
    "certificateNo", "communeCode", "mapSheet", "parcelNumber", "holderId", "holderName", "issuedDate",
    "updatedAt", "deleted",
)
ENTERPRISE_FIELDS = (
    "enterpriseCode", "name", "enterpriseType", "status", "registeredDate", "charterCapitalVnd",
    "provinceCode", "communeCode", "address", "legalRepName", "legalRepId", "updatedAt",
)
BRANCH_FIELDS = (
    "branchCode", "enterpriseCode", "name", "provinceCode", "communeCode", "address", "status", "updatedAt",
)


def _ops(*operations: Operation) -> dict[str, Operation]:
    return {op.name: op for op in operations}


LAND = Service(
    agency="land",
    path="/ws/land",
    namespace="urn:lienthong:land:v1",
    wsdl_file="land.wsdl",
    operations=_ops(
        Operation("GetParcelChanges", "changes", "parcels", "parcel"),
        Operation(
            "GetParcel", "get", "parcels", "parcel",
            key_params=("communeCode", "mapSheet", "parcelNumber"),
            int_params=frozenset({"mapSheet", "parcelNumber"}),
        ),
        Operation("GetCertificateChanges", "changes", "land_certificates", "certificate"),
        Operation("GetCertificate", "get", "land_certificates", "certificate", key_params=("certificateNo",)),
    ),
    fields={"parcels": PARCEL_FIELDS, "land_certificates": CERTIFICATE_FIELDS},
)

BUSINESS = Service(
    agency="business",
    path="/ws/business",
    namespace="urn:lienthong:business:v1",
    wsdl_file="business.wsdl",
    operations=_ops(
        Operation("GetEnterpriseChanges", "changes", "enterprises", "enterprise"),
        Operation("GetEnterprise", "get", "enterprises", "enterprise", key_params=("enterpriseCode",)),
        Operation("ListEnterpriseCodes", "keys", "enterprises", "code"),
        Operation("GetBranchChanges", "changes", "branches", "branch"),
        Operation("ListBranchCodes", "keys", "branches", "code"),
    ),
    fields={"enterprises": ENTERPRISE_FIELDS, "branches": BRANCH_FIELDS},
)

SERVICES: Mapping[SoapAgency, Service] = {"land": LAND, "business": BUSINESS}
