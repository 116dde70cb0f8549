"""Issue 18 item 11: usernames are normalised, restricted to a documented set, and look-alikes of
existing names are refused. NFC and NFD forms of one name became an operator and an admin that look
identical; zero-width, right-to-left, newline and empty names were accepted."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import select

from gateway.auth import accounts
from gateway.bootstrap import Gateway
from gateway.db.models import ApiUser
from gateway.errors import InputError
from tests.conftest import GatewayFactory
from tests.support.api import PASSWORD


def add(gw: Gateway, name: str, role: str = "operator") -> None:
    with gw.sessions.begin() as session:
        accounts.add_user(session, name, "Người dùng", role, PASSWORD, now=gw.clock.now(), actor="test")


def names(gw: Gateway) -> list[str]:
    with gw.sessions() as session:
        return list(session.scalars(select(ApiUser.username).order_by(ApiUser.username)))


def test_nfc_and_nfd_spellings_cannot_become_two_accounts(gateway_factory: GatewayFactory, database_url: str) -> None:
    gw = gateway_factory(database_url=database_url)
    name = "tuấn"  # one visible name; NFD spells it with combining marks
    nfc, nfd = unicodedata.normalize("NFC", name), unicodedata.normalize("NFD", name)
    assert nfc != nfd
    for spelling in (nfc, nfd):  # not ASCII: refused either way, with the rule named
        with pytest.raises(InputError, match="ASCII letters"):
            add(gw, spelling)
    add(gw, "Tuan")
    with pytest.raises(InputError, match="already exists"):
        add(gw, "TUAN", "admin")
    assert names(gw) == ["tuan"]


@pytest.mark.parametrize(
    "hostile",
    ["", " ", "a", "ad\u200bmin", "\u202eadmin", "ad\nmin", "admin\n", "ad min", "-admin", "a" * 65, "ａｄｍｉｎ"],
    ids=[
        "empty",
        "space",
        "too-short",
        "zero-width",
        "rtl-override",
        "newline",
        "trailing-newline",
        "inner-space",
        "leading-dash",
        "too-long",
        "fullwidth",
    ],
)
def test_invisible_and_odd_names_are_refused(gateway_factory: GatewayFactory, hostile: str) -> None:
    gw = gateway_factory()
    with pytest.raises(InputError, match="not allowed"):
        add(gw, hostile)
    assert names(gw) == []


@pytest.mark.parametrize("alike", ["adm1n", "adrnin", "ad.min", "ADM-IN", "admln"])
def test_look_alikes_of_an_existing_name_are_refused(gateway_factory: GatewayFactory, alike: str) -> None:
    gw = gateway_factory()
    add(gw, "admin", "admin")
    with pytest.raises(InputError, match="looks like the existing user admin"):
        add(gw, alike)
    add(gw, "administrator")  # a different name is fine
    assert names(gw) == ["admin", "administrator"]


def test_login_uses_the_normalised_name(gateway_factory: GatewayFactory, database_url: str) -> None:
    gw = gateway_factory(database_url=database_url)
    add(gw, "vanhanh")
    principal = accounts.verify_user(gw.sessions, "VanHanh", PASSWORD)
    assert principal is not None and principal.name == "vanhanh"
