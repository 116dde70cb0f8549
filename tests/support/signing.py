"""Helpers that forge what an attacker or a careless peer would send: for signature tests only."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from gateway.packets.profile import load_profile
from gateway.signing import jcs, xmldsig
from gateway.signing.keys import KeyRing, SigningKey, load_key, read_passphrase
from gateway.signing.packets import PacketSigner, PacketVerifier
from gateway.signing.trust import TrustStore

DS = xmldsig.DS
NS = {"ds": DS}
PROFILE = load_profile()
NAMES = ("ChuKySo", "ThuatToan", "ChungThu", "GiaTri")


def key(pki: Path, name: str) -> SigningKey:
    return load_key(pki / f"{name}.p12", read_passphrase(file=pki / "passphrase.txt"))


def signer(pki: Path, name: str = "signer") -> PacketSigner:
    return PacketSigner(PROFILE, KeyRing([key(pki, name)]))


def verifier(pki: Path, **options: Any) -> PacketVerifier:
    return PacketVerifier(PROFILE, TrustStore(pki / "trust", **options.pop("trust", {})), **options)


def sign_raw(data: bytes, who: SigningKey) -> bytes:
    """Sign without the key ring's validity check (an expired key signs as if nothing were wrong)."""
    if data.lstrip().startswith(b"<"):
        return xmldsig.sign(etree.fromstring(data), who)
    return json.dumps(jcs.sign(json.loads(data), who, NAMES), ensure_ascii=False).encode()


def resign_xml_sha1(signed: bytes, who: SigningKey) -> bytes:
    """A genuine RSA-SHA1 / SHA-1-digest signature over the same document (what a legacy signer makes)."""
    assert isinstance(who.private_key, rsa.RSAPrivateKey)
    root = etree.fromstring(signed)
    sig = root.find("ds:Signature", NS)
    signed_info = sig.find("ds:SignedInfo", NS)
    signed_info.find("ds:SignatureMethod", NS).set("Algorithm", f"{DS}rsa-sha1")
    ref = signed_info.find("ds:Reference", NS)
    ref.find("ds:DigestMethod", NS).set("Algorithm", f"{DS}sha1")
    unsigned = copy.deepcopy(root)
    unsigned.remove(unsigned.find("ds:Signature", NS))
    digest = hashlib.sha1(etree.tostring(unsigned, method="c14n", exclusive=True)).digest()
    ref.find("ds:DigestValue", NS).text = base64.b64encode(digest).decode()
    canonical_info = etree.tostring(signed_info, method="c14n", exclusive=True)
    value = who.private_key.sign(canonical_info, padding.PKCS1v15(), hashes.SHA1())
    sig.find("ds:SignatureValue", NS).text = base64.b64encode(value).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def resign_json_sha1(signed: bytes, who: SigningKey) -> bytes:
    """A genuine RSASSA-PKCS1-v1_5 SHA-1 signature, labelled ``RS1``."""
    assert isinstance(who.private_key, rsa.RSAPrivateKey)
    doc = json.loads(signed)
    value = who.private_key.sign(jcs.canonical(doc, "ChuKySo"), padding.PKCS1v15(), hashes.SHA1())
    doc["ChuKySo"]["ThuatToan"] = "RS1"
    doc["ChuKySo"]["GiaTri"] = base64.b64encode(value).decode()
    return json.dumps(doc, ensure_ascii=False).encode()
