"""Progress reaches the jobs collection at most once per 5 points and 2 seconds."""
from converter.worker import ProgressThrottle


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_progress_is_written_only_after_both_5_points_and_2_seconds():
    clock = FakeClock()
    throttle = ProgressThrottle(min_step=5, min_seconds=2.0, clock=clock)

    clock.now += 0.5
    assert not throttle.due(50), "50 points but only 0.5 s"
    clock.now += 2
    assert throttle.due(50)
    clock.now += 10
    assert not throttle.due(53), "10 s but only 3 points"
    assert throttle.due(55)
    clock.now += 1
    assert not throttle.due(90), "35 points but only 1 s"
