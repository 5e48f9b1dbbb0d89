from __future__ import annotations

import json

import pytest

from chaoskit.load.protocol import (
    PROTOCOL_VERSION,
    ChildCommand,
    ChildConfig,
    Command,
    MasterConfig,
    MessageType,
    ProtocolError,
    decode,
    encode,
)


@pytest.mark.parametrize(
    "command",
    [
        ChildCommand(Command.USERS, users=12, spawn_rate=30.0),
        ChildCommand(Command.USERS, users=0),
        ChildCommand(Command.RATE, rate=250.0),
        ChildCommand(Command.RATE, rate=None),
        ChildCommand(Command.STOP),
    ],
)
def test_commands_round_trip_as_versioned_json_lines(command: ChildCommand) -> None:
    line = command.to_line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["v"] == PROTOCOL_VERSION
    assert ChildCommand.parse(line) == command


def test_plain_words_are_commands_too() -> None:
    assert ChildCommand.parse("users 5 10") == ChildCommand(Command.USERS, users=5, spawn_rate=10.0)
    assert ChildCommand.parse(b"rate 99.5\n") == ChildCommand(Command.RATE, rate=99.5)
    assert ChildCommand.parse("rate off") == ChildCommand(Command.RATE, rate=None)
    assert ChildCommand.parse("stop") == ChildCommand(Command.STOP)


@pytest.mark.parametrize("line", ["users", "users many", "jump 3", '{"v": 1, "cmd": "users"}', "{not json"])
def test_bad_commands_are_protocol_errors(line: str) -> None:
    with pytest.raises(ProtocolError):
        ChildCommand.parse(line)


def test_another_protocol_version_is_refused_both_ways() -> None:
    with pytest.raises(ProtocolError, match="version 2"):
        ChildCommand.parse('{"v": 2, "cmd": "stop"}')
    with pytest.raises(ProtocolError, match="version 2"):
        decode(b'{"v": 2, "type": "window"}')


def test_messages_decode_and_garbage_does_not() -> None:
    line = encode(MessageType.WINDOW, child=1, k=7, names={})
    assert decode(line) == {"v": 1, "type": "window", "child": 1, "k": 7, "names": {}}
    for bad in (b"hello there\n", b"[1, 2]\n", b'{"v": 1, "type": "gossip"}\n', b'{"v": 1}\n'):
        with pytest.raises(ProtocolError):
            decode(bad)


def test_child_config_round_trips() -> None:
    config = ChildConfig(
        index=3,
        users=7,
        spawn_rate=2.5,
        thresholds=(0.25, 0.6),
        rate=40.0,
        http={"host": "http://127.0.0.1:1", "requests": [{"path": "/"}]},
        user_classes=("A", "B"),
        master=MasterConfig("127.0.0.1", 5557, 2, 10.0),
    )
    assert ChildConfig.from_json(config.to_json()) == config


def test_load_errors_are_chaoskit_errors_with_their_old_import_path_kept() -> None:
    from chaoskit import errors
    from chaoskit.load import protocol

    assert protocol.LoadError is errors.LoadError
    assert issubclass(errors.LoadError, errors.ChaoskitError)
    assert issubclass(ProtocolError, errors.LoadError)
    err = errors.LoadError("load-child-1 exited on its own", child=1, log="Traceback ...")
    assert (err.child, err.log) == (1, "Traceback ...")
    assert str(err) == "load-child-1 exited on its own\nTraceback ..."
