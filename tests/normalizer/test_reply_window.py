"""How customer actions open and widen the window a business may reply in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from normalizer import ReplyAllowance, ReplyWindow

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MESSAGE = ReplyAllowance(replies=5, window=timedelta(hours=48))
MENU_CLICK = ReplyAllowance(replies=3, window=timedelta(minutes=1))
CHANNEL_LIMITS = MESSAGE


def test_nothing_may_be_sent_before_the_customer_acts():
    closed = ReplyWindow.closed(CHANNEL_LIMITS, T0)
    assert closed.refusal(T0 + timedelta(seconds=1)) is not None


def test_a_channel_without_limits_is_never_closed():
    unlimited = ReplyWindow.closed(ReplyAllowance(), T0).widened(ReplyAllowance(), T0)
    assert unlimited == ReplyWindow(None, None)
    assert unlimited.refusal(T0 + timedelta(days=365)) is None


def test_a_message_opens_five_replies_for_48_hours():
    window = ReplyWindow.closed(CHANNEL_LIMITS, T0).widened(MESSAGE, T0)
    assert window == ReplyWindow(T0 + timedelta(hours=48), 5)
    assert window.refusal(T0 + timedelta(hours=47, minutes=59)) is None
    assert "closed" in window.refusal(T0 + timedelta(hours=48))


def test_a_menu_click_inside_an_open_window_takes_nothing_away():
    window = ReplyWindow(T0 + timedelta(hours=40), 4).widened(MENU_CLICK, T0)
    assert window == ReplyWindow(T0 + timedelta(hours=40), 4)


def test_a_menu_click_after_the_window_closed_opens_three_replies_for_a_minute():
    window = ReplyWindow(T0 - timedelta(seconds=1), 2).widened(MENU_CLICK, T0)
    assert window == ReplyWindow(T0 + timedelta(minutes=1), 3)


def test_a_used_up_window_is_renewed_by_the_next_message():
    window = ReplyWindow(T0 + timedelta(hours=10), 0).widened(MESSAGE, T0)
    assert window == ReplyWindow(T0 + timedelta(hours=48), 5)


allowances = st.builds(
    ReplyAllowance,
    replies=st.integers(1, 10),
    window=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=3)),
)
windows = st.builds(
    ReplyWindow,
    ends_at=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    replies_remaining=st.integers(0, 10),
)


@given(window=windows, allowance=allowances)
def test_allowances_never_add_up_and_an_action_always_allows_a_reply(window, allowance):
    widened = window.widened(allowance, T0)
    assert widened.refusal(T0) is None
    assert widened.replies_remaining <= max(window.replies_remaining, allowance.replies)
    assert widened.ends_at >= T0 + allowance.window
    if window.refusal(T0) is None:
        assert widened.ends_at >= window.ends_at and widened.replies_remaining >= window.replies_remaining
