"""Template filters every page uses."""


def test_a_moment_under_a_minute_ago_is_just_now():
    from datetime import UTC, datetime, timedelta

    from portal.templatetags.berth import ago

    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=59), now) == "just now"
    assert ago(now - timedelta(minutes=5), now) == "5\xa0minutes ago"
    assert ago(None, now) == ""
