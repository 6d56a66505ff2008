"""The gateway's clients: a publish borrows a Publisher that no other request holds meanwhile."""

from gateway import services


def test_a_publisher_is_lent_to_one_request_at_a_time_and_reused_after(app):
    with app.app_context():
        with services.publisher() as first, services.publisher() as second:
            # Two publishes in flight at once (two greenlets or threads) never share a pika connection.
            assert first is not second
            first.check()
            second.check()
        with services.publisher() as again:
            # Given back, not made anew: the pool grows with publishes in flight, not with requests.
            assert again in (first, second)


def test_close_reaches_the_publishers_lent_and_idle(app):
    with app.app_context():
        with services.publisher() as lent:
            lent.check()
            with services.publisher() as idle:
                idle.check()
            services.close(app)
            assert lent._connection is None and idle._connection is None
