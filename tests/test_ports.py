"""tests/ports.py: a start that hits a taken port runs again on new ports; any other failure does not."""

import socket

import pytest

from tests.ports import PortTaken, candidate_ports, ephemeral_range, says_address_in_use, start_on_fresh_ports


def bind_all(ports: list[int]) -> list[socket.socket]:
    """Listen on every port (the start of a server that needs its numbers up front)."""
    sockets = []
    for port in ports:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            s.close()
            for held in sockets:
                held.close()
            if says_address_in_use(str(e)):
                raise PortTaken(f"port {port}: {e}") from e
            raise
        s.listen()
        sockets.append(s)
    return sockets


def test_a_taken_port_is_retried_on_new_ports_until_the_start_succeeds():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        seen = []

        def start(ports):
            seen.append(ports)
            # the first two starts are given the taken port, as if another test had bound it first
            return bind_all([taken.getsockname()[1]] + ports[1:] if len(seen) < 3 else ports)

        sockets = start_on_fresh_ports(start, 2)
    try:
        assert len(seen) == 3 and len({tuple(p) for p in seen}) == 3
        assert [s.getsockname()[1] for s in sockets] == seen[-1]
    finally:
        for s in sockets:
            s.close()


def test_the_last_port_taken_propagates_after_the_attempts():
    calls = []

    def start(ports):
        calls.append(ports)
        raise PortTaken(f"{ports} taken")

    with pytest.raises(PortTaken):
        start_on_fresh_ports(start, 3, attempts=4)
    assert len(calls) == 4


def test_any_other_failure_is_not_retried():
    calls = []

    def start(ports):
        calls.append(ports)
        raise RuntimeError("the model does not load")

    with pytest.raises(RuntimeError, match="does not load"):
        start_on_fresh_ports(start, 3)
    assert len(calls) == 1


def test_candidates_are_distinct_and_below_the_ephemeral_range():
    low = ephemeral_range()[0]
    for _ in range(50):
        ports = candidate_ports(3)
        assert len(set(ports)) == 3 and all(1024 < p < low for p in ports)


def test_ephemeral_range_is_read_from_the_kernel_file(tmp_path):
    (tmp_path / "range").write_text("40000\t50000\n")
    assert ephemeral_range(str(tmp_path / "range")) == (40000, 50000)
    assert ephemeral_range(str(tmp_path / "missing")) == (32768, 60999)


def test_tritonserver_log_lines_of_a_taken_port_are_recognised():
    assert says_address_in_use('E1201 main.cc:257] "failed to start HTTP service: Unavailable - Socket '
                               '\'127.0.0.1:57691\' already in use "')
    assert not says_address_in_use("failed to load model 'tiny_generate'")
