"""The dev launcher's own helpers (sandchat_dev.stack), which the test stacks use too."""

from __future__ import annotations

from sandchat_dev.stack import free_port


def test_free_port_never_hands_out_a_port_twice() -> None:
    """A stack takes its gateways' ports, then its workers' metrics ports, before any is bound: the
    kernel would hand the same free port out again, and two services of one stack would collide."""
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)
