"""Mutated packets: whatever bytes arrive, ``read_packet`` answers with a packet or a ``GatewayError``
that says what is wrong, never another exception (which would reach an operator as a traceback).

Hypothesis mutates the golden examples of every type, JSON and XML: tokens that break each grammar
inserted, spans deleted, duplicated or overwritten, the document cut short. A bounded run here; the
same strategy can run for hours in a fuzzing campaign (without ``derandomize``, more examples)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import GatewayError
from gateway.packets import model as m
from gateway.packets.validate import read_packet
from tests.unit.test_goldens import EXAMPLES

SEEDS = [path.read_bytes() for path in sorted((EXAMPLES / "valid").glob("*.*"))]
TOKENS = [
    b"<", b">", b"&", b"&#0;", b"&#x1F;", b"&amp", b"\x00", b"\xff", b"\xc3", b'"', b"\\", b"\\u0000",
    b"\\ud800", b"{", b"}", b"[", b"]", b"1e999", b"-", b"NaN", b"null", b"true", b"0",
    b"99999999999999999999", b"<![CDATA[", b"]]>", b"<!--", b"-->", b"<?x?>", b" xmlns:a='b'", b" a='1'",
    b"\r", b"\t", b"\xe2\x80\xa8", b"\xef\xbb\xbf", b"</", b"<a>", b":", b",", b"\xcc\x81", b"<!DOCTYPE x>",
]  # fmt: skip

mutation = st.one_of(
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(TOKENS)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 40)),
    st.tuples(st.just("byte"), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just("repeat"), st.floats(0, 1), st.integers(1, 300)),
    st.tuples(st.just("cut"), st.floats(0, 1), st.just(0)),
)


def mutate(data: bytes, mutations: list[tuple[str, float, object]]) -> bytes:
    out = bytearray(data)
    for op, where, arg in mutations:
        pos = int(where * len(out))
        if op == "insert":
            assert isinstance(arg, bytes)
            out[pos:pos] = arg
        elif op == "delete":
            assert isinstance(arg, int)
            del out[pos : pos + arg]
        elif op == "byte" and pos < len(out):
            assert isinstance(arg, int)
            out[pos] = arg
        elif op == "repeat":
            assert isinstance(arg, int)
            out[pos:pos] = out[max(0, pos - arg) : pos]
        elif op == "cut":
            del out[pos:]
    return bytes(out)


def outcome(data: bytes) -> m.Envelope | str:
    """The packet read, or the message of the ``GatewayError`` that refused it; anything else raises."""
    try:
        return read_packet(data, source="mutated")
    except GatewayError as exc:
        return str(exc)


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_a_mutated_packet_is_read_or_refused_with_a_reason(
    seed: bytes, mutations: list[tuple[str, float, object]]
) -> None:
    result = outcome(mutate(seed, mutations))
    assert isinstance(result, m.Envelope) or result.strip()


def test_the_seeds_cover_every_type_in_both_formats() -> None:
    assert len(SEEDS) == 2 * len(m.PacketType)
    for seed in SEEDS:
        assert isinstance(read_packet(seed), m.Envelope)


@pytest.mark.parametrize("cut", [1, 10, 100, 1000])
def test_a_packet_cut_short_is_refused_as_malformed(cut: int) -> None:
    for seed in SEEDS:
        with pytest.raises(GatewayError):
            read_packet(seed[: min(cut, len(seed.rstrip()) - 1)], source="cut")
