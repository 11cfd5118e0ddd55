import pytest

from capture.rates import RateWindow


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
