import pytest

from trafficmon.capture.rates import RateWindow


def test_speed_is_bytes_over_the_window():
    r = RateWindow(1.0)
    r.add(1.0, 1000, 250)
    assert (r.upload, r.download) == (1000.0, 250.0)


def test_quiet_tick_reads_zero_within_one_window():
    r = RateWindow(1.0)
    r.add(1.0, 5000, 5000)
    r.add(1.0, 0, 0)
    assert (r.upload, r.download) == (0.0, 0.0)
    assert r.idle


def test_longer_window_averages_ticks():
    r = RateWindow(3.0)
    for sent in (300, 600, 900, 1200):
        r.add(1.0, sent, 0)
    assert r.upload == pytest.approx((600 + 900 + 1200) / 3)


def test_uneven_ticks_divide_by_real_time():
    r = RateWindow(1.0)
    r.add(0.5, 100, 0)
    r.add(0.5, 300, 0)
    assert r.upload == pytest.approx(400.0)


def test_a_steady_stream_reads_its_rate_whatever_the_tick_jitter():
    """Ticks of 0.9-1.1 s around a 1 s window: one tick kept or two, the speed is the same."""
    r = RateWindow(1.0)
    for dt in (1.0, 0.9, 1.1, 0.95, 1.05, 1.1, 0.9):
        r.add(dt, 0, round(1000 * dt))
        assert r.download == pytest.approx(1000.0, rel=1e-3)


def test_the_oldest_tick_counts_for_its_share_inside_the_window():
    r = RateWindow(2.0)
    r.add(1.0, 0, 3000)  # 2.5 s to 1.5 s ago: its later half is inside the 2 s window
    r.add(1.0, 0, 0)
    r.add(0.5, 0, 1000)
    assert r.download == pytest.approx((3000 * 0.5 + 1000) / 2.0)


def test_bursts_shorter_than_the_window_average_out():
    """A sender that moves a second's worth at once, every second, read over a 5 s window."""
    r = RateWindow(5.0)
    readings = []
    for tick in range(40):  # quarter-second ticks: a burst in every fourth one
        r.add(0.25, 0, 1_000_000 if tick % 4 == 0 else 0)
        if tick >= 20:
            readings.append(r.download)
    assert all(0.8e6 <= v <= 1.2e6 for v in readings), readings


def test_until_a_window_is_seen_the_speed_is_over_the_time_seen():
    r = RateWindow(5.0)
    r.add(1.0, 0, 2000)
    r.add(1.0, 0, 2000)
    assert r.download == pytest.approx(2000.0)


def test_a_window_of_no_length_is_refused():
    with pytest.raises(ValueError, match="longer than 0 s"):
        RateWindow(0.0)


def test_a_minute_window_reads_bursts_ten_seconds_apart_within_a_fifth():
    """`curl --limit-rate 1M` moves 10 MiB at once, then waits about 10 s (9 to 11 here, 10 on average).

    Over a minute the window holds six bursts, or five or seven when the gaps
    in it are short or long (±17 %): every half-second tick reads within 20 %
    of the rate. The 5 s window over the same ticks swings between nothing and
    twice the rate.
    """
    rate, tick = 1_048_576, 0.5
    gaps = (9.0, 11.0, 10.5, 9.5, 10.0)
    minute, five = RateWindow(60.0), RateWindow(5.0)
    bursts = set()
    at = 0.0
    for n in range(40):
        bursts.add(round(at / tick))
        at += gaps[n % len(gaps)]
    steady, swinging = [], []
    for n in range(round(200 / tick)):
        received = 10 * rate if n in bursts else 0
        minute.add(tick, 0, received)
        five.add(tick, 0, received)
        if n * tick >= 60.0:
            steady.append(minute.download)
            swinging.append(five.download)
    assert all(0.8 * rate <= v <= 1.2 * rate for v in steady), (min(steady), max(steady))
    assert min(steady) < rate < max(steady), "some windows held five bursts, some seven"
    assert min(swinging) == 0.0 and max(swinging) == 2 * rate
