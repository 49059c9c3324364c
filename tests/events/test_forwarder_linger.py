"""The forwarder's adaptive linger (``bellamy.events.forwarder.Linger``): how long it keeps
polling to fill a batch once records arrived."""

import pytest

from bellamy.events.forwarder import Forwarder, Linger


def test_the_linger_doubles_while_records_keep_arriving_and_stops_at_the_maximum():
    # Given a linger of 20 ms at least and 200 ms at most,
    linger = Linger(0.020, 0.200)
    assert linger.current == 0.020
    # when batch after batch got more records while it lingered (a busy system),
    grown = [linger.after_batch(3) for _ in range(5)]
    # then each next batch lingers twice as long, never longer than the maximum.
    assert grown == [0.040, 0.080, 0.160, 0.200, 0.200]


def test_one_batch_that_got_nothing_while_lingering_brings_the_linger_back_to_the_minimum():
    # Given a linger grown to its maximum under load,
    linger = Linger(0.020, 0.200)
    for _ in range(4):
        linger.after_batch(10)
    assert linger.current == 0.200
    # when a batch got no record while it lingered (a quiet system, or a backlog read at once),
    # then the next one lingers the minimum again, and grows again from there.
    assert linger.after_batch(0) == 0.020
    assert linger.after_batch(1) == 0.040


def test_a_maximum_below_the_minimum_means_a_fixed_linger_and_zero_means_none():
    fixed = Linger(0.300, 0.100)
    assert (fixed.after_batch(5), fixed.after_batch(0)) == (0.300, 0.300)
    never = Linger(0.0, 0.0)
    assert (never.after_batch(5), never.after_batch(0)) == (0.0, 0.0)


def test_the_forwarder_starts_at_its_minimum_linger_and_refuses_negative_ones():
    forwarder = Forwarder(bootstrap_servers=["127.0.0.1:1"], group_id="g", topic_prefix="p.",
                          batch_wait_ms=25, batch_wait_max_ms=400)
    assert (forwarder.linger.current, forwarder.linger.minimum, forwarder.linger.maximum) == (0.025, 0.025, 0.4)
    with pytest.raises(ValueError, match="batch_wait_max_ms"):
        Forwarder(bootstrap_servers=["127.0.0.1:1"], group_id="g", topic_prefix="p.", batch_wait_max_ms=-1)
