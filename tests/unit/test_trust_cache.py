"""Certificate-path validation outcomes are cached per certificate, only where provably unchanged
(issue 19: path validation with CRLs was 90-200x the signature check on every received packet).

Each test validates once to fill the cache, then asks about a moment, or a trust directory, for
which the honest answer differs: a cache keyed on the certificate alone fails every one of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.errors import SignatureInvalid, SignatureUnknown
from gateway.signing.testpki import make_test_pki, revoke
from gateway.signing.trust import TrustStore
from tests.support.signing import key


def test_a_good_path_is_validated_once_and_reused_inside_its_window(test_pki: Path) -> None:
    store = TrustStore(test_pki / "trust")
    cert = key(test_pki, "signer").certificate
    now = datetime.now(UTC)
    first = store.validate(cert, now)
    assert len(store._paths) == 1
    low, high, _ = next(iter(store._paths.values()))
    assert low <= now <= high
    assert high <= now + timedelta(days=30)  # bounded by the CRL's nextUpdate, not only the certificate
    assert store.validate(cert, now + timedelta(minutes=7)) == first


def test_a_cached_path_does_not_outlive_the_crl(test_pki: Path) -> None:
    store = TrustStore(test_pki / "trust")
    cert = key(test_pki, "signer").certificate
    store.validate(cert, datetime.now(UTC))
    with pytest.raises(SignatureUnknown):  # past nextUpdate: revocation unknown, as without a cache
        store.validate(cert, datetime.now(UTC) + timedelta(days=45))


def test_a_cached_path_does_not_outlive_the_certificate(test_pki: Path) -> None:
    store = TrustStore(test_pki / "trust", revocation_unknown="accept")
    cert = key(test_pki, "signer").certificate
    store.validate(cert, datetime.now(UTC))
    with pytest.raises(SignatureInvalid) as caught:
        store.validate(cert, cert.not_valid_after_utc + timedelta(days=1))
    assert caught.value.code == "expired"


def test_a_certificate_listed_on_a_crl_is_never_cached(test_pki: Path) -> None:
    """Revoked an hour ago: good for a packet signed before that, revoked after. Both answers come
    from the validator, whatever order they are asked in."""
    store = TrustStore(test_pki / "trust")
    cert = key(test_pki, "revoked").certificate
    now = datetime.now(UTC)
    assert store.validate(cert, now - timedelta(hours=3)).revocation == "good"
    assert store._paths == {}
    with pytest.raises(SignatureInvalid) as caught:
        store.validate(cert, now)
    assert caught.value.code == "revoked"


def test_a_new_crl_clears_the_cache(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path / "pki")
    store = TrustStore(pki / "trust")
    cert = key(pki, "signer").certificate
    store.validate(cert, datetime.now(UTC))
    assert store._paths
    revoke(pki, "signer")
    with pytest.raises(SignatureInvalid) as caught:
        store.validate(cert, datetime.now(UTC))
    assert caught.value.code == "revoked"


def test_refusals_and_unknowns_are_not_cached(test_pki: Path) -> None:
    store = TrustStore(test_pki / "trust", revocation_unknown="accept")
    for name in ("untrusted", "expired"):
        with pytest.raises(SignatureInvalid):
            store.validate(key(test_pki, name).certificate, datetime.now(UTC))
    late = datetime.now(UTC) + timedelta(days=45)
    assert store.validate(key(test_pki, "signer").certificate, late).revocation == "unknown"
    assert store._paths == {}
