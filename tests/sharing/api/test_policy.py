"""The policy file: checked when loaded, with the path of the bad entry; keys stored only as digests."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from lienthong.serve import serve
from sharing.api.auth import authenticate, hash_key
from sharing.api.masking import mask_value
from sharing.api.policy import load_policy, pii_class, policy_from_dict

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).parents[3] / "sharing" / "api" / "policy.example.yaml"
DIGEST = "0" * 63 + "1"


def test_example_policy_loads() -> None:
    policy = load_policy(EXAMPLE)
    assert authenticate(policy, "lt_example_tax_office") is policy.clients["tax_office"]
    assert authenticate(policy, "lt_example_tax_offic") is None
    assert policy.clients["inspector"].auditor


@pytest.mark.parametrize(("document", "path"), [
    ({"clients": {"Bad Name": {"key_sha256": DIGEST}}}, "clients.Bad Name"),
    ({"clients": {"a_b": {"key_sha256": "plaintext-key"}}}, "clients.a_b.key_sha256"),
    ({"clients": {"a_b": {"key_sha256": DIGEST, "grants": [{"dataset": "x", "purposes": []}]}}},
     "clients.a_b.grants[0].purposes"),
    ({"clients": {"a_b": {"key_sha256": DIGEST, "grants": [{"dataset": "x", "purposes": ["p1"],
                                                            "clear": ["secret"]}]}}}, "clients.a_b.grants[0].clear"),
    ({"clients": {"a_b": {"key_sha256": DIGEST, "grant": []}}}, "clients.a_b.grant"),
    ({"clients": {"a_b": {"key_sha256": DIGEST}, "c_d": {"key_sha256": DIGEST}}}, "clients.c_d.key_sha256"),
    ({"clients": {"a_b": {"key_sha256": DIGEST, "callbacks": "https://x.example/"}}}, "clients.a_b.callbacks"),
    ({"clients": {"a_b": {"key_sha256": DIGEST, "callbacks": ["https://x.example/", "https://u:p@y.example/"]}}},
     "clients.a_b.callbacks[1]"),
])
def test_bad_policy_names_the_entry(document: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError, match=rf"<policy>: {path.replace('[', '.').replace(']', '.')}"):
        policy_from_dict(document)


def test_new_key_prints_its_digest() -> None:
    out = CliRunner().invoke(serve, ["--new-key"]).output
    key = out.split("): ")[1].split()[0]
    assert hash_key(key) in out and key.startswith("lt_")


def test_classes_and_masks() -> None:
    assert (pii_class("enterprises", "legal_rep_id"), pii_class("enterprises", "legal_rep_name"),
            pii_class("enterprises", "name")) == ("sensitive", "personal", "public")
    assert pii_class("parcel_profile", "holder_id") == "sensitive"  # a view inherits its source's class
    assert mask_value("Nguyễn Văn An", "personal") == "N*** V*** A***"
    assert mask_value("001089012345", "sensitive") == "*********345"
    assert mask_value(42, "personal") is None and mask_value("x", "public") == "x"
