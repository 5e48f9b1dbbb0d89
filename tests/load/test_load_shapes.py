from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chaoskit.experiment.model import LoadSpec
from chaoskit.load.shapes import Level, level_at, peak_users

HOST = "http://127.0.0.1:8080"


def spec(**kw: Any) -> LoadSpec:
    return LoadSpec.model_validate({"host": HOST, "http": [{"path": "/"}], **kw})


def test_without_a_shape_the_level_is_constant() -> None:
    s = spec(users=20, rate="200/s")
    assert level_at(s, 0) == level_at(s, 999) == Level(20, 200.0)


def test_step_holds_each_stage_then_the_last() -> None:
    s = spec(
        users=10,
        shape={"type": "step", "stages": [{"duration": "5s", "users": 5}, {"duration": "5s", "rate": "50/s"}]},
    )
    assert level_at(s, 0) == Level(5, None)
    assert level_at(s, 4.99) == Level(5, None)
    assert level_at(s, 5.0) == Level(5, 50.0)
    assert level_at(s, 60) == Level(5, 50.0)
    assert peak_users(s) == 10


def test_ramp_grows_users_and_rate_linearly_then_holds() -> None:
    s = spec(users=21, rate="210/s", shape={"type": "ramp", "duration": "10s", "start_users": 1})
    assert level_at(s, 0) == Level(1, 10.0)
    assert level_at(s, 5) == Level(11, 110.0)
    assert level_at(s, 10) == level_at(s, 100) == Level(21, 210.0)


def test_spike_jumps_for_its_duration_and_repeats() -> None:
    s = spec(
        users=10,
        rate="100/s",
        shape={"type": "spike", "at": "10s", "duration": "2s", "users": 50, "rate": "1000/s", "every": "30s"},
    )
    assert level_at(s, 9.9) == Level(10, 100.0)
    assert level_at(s, 10) == Level(50, 1000.0)
    assert level_at(s, 12) == Level(10, 100.0)
    assert level_at(s, 41) == Level(50, 1000.0)
    assert peak_users(s) == 50


def test_a_zero_rate_means_no_users() -> None:
    s = spec(users=10, shape={"type": "step", "stages": [{"duration": "1s", "rate": 0}]})
    assert level_at(s, 0) == Level(0, 0.0)


def test_split_spreads_users_evenly_and_rate_in_proportion() -> None:
    assert Level(7, 70.0).split(3) == [Level(3, 30.0), Level(2, 20.0), Level(2, 20.0)]
    assert Level(1, None).split(2) == [Level(1), Level(0)]
    assert Level(0, 10.0).split(2) == [Level(0, 5.0), Level(0, 5.0)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"http": [{"path": "/"}]}, "need a host"),
        ({"host": HOST}, "locustfile or an http list"),
        ({"host": HOST, "locustfile": "l.py", "http": [{"path": "/"}]}, "not both"),
        ({"host": HOST, "http": [{"path": "nope"}]}, "should match pattern"),
        ({"host": HOST, "http": [{"path": "/", "json": {}, "body": "x"}]}, "json or body"),
        ({"host": HOST, "http": [{"path": "/"}], "rate": "fast"}, "rate such as 200/s"),
        ({"host": HOST, "http": [{"path": "/"}], "rate": 0}, "above 0"),
        ({"host": HOST, "http": [{"path": "/"}], "shape": {"type": "zigzag"}}, "zigzag"),
        ({"host": HOST, "http": [{"path": "/"}], "shape": {"type": "spike", "at": 1, "duration": 1}}, "users or rate"),
        ({"host": HOST, "http": [{"path": "/"}], "users": 5, "usres": 6}, "usres"),
        ({"host": HOST, "http": [{"path": "/"}], "distributed": {"workers": 1, "local_workers": 2}}, "exceed"),
        ({"host": HOST, "http": [{"path": "/"}], "distributed": {"workers": 1, "bind": "nowhere"}}, "HOST:PORT"),
        ({"locustfile": "l.py", "user_classes": []}, "at least 1"),
    ],
)
def test_bad_load_specs_say_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LoadSpec.model_validate(data)


def test_a_declarative_spec_reads_naturally() -> None:
    s = LoadSpec.model_validate(
        {
            "host": HOST,
            "http": [
                {"path": "/", "weight": 3},
                {"path": "/checkout", "method": "POST", "json": {"items": 2}, "status": 201, "name": "checkout"},
            ],
            "users": 20,
            "rate": "1200/m",
        }
    )
    assert s.rate == 20.0
    assert s.http is not None and s.http[1].status == [201] and s.http[1].json_body == {"items": 2}
    assert [r.request_name for r in s.http] == ["/", "checkout"]
