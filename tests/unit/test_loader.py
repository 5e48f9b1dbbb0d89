"""The experiment loader: what a user sees for good and broken files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import field_validator

from chaoskit.errors import Diagnostic, ExperimentError
from chaoskit.experiment.loader import MAX_DEPTH, MAX_VALUES, load_experiment, load_experiment_text
from chaoskit.experiment.model import Experiment, FaultSpec, Problem
from chaoskit.plugins import hookimpl, plugin_manager
from chaoskit.registry import FaultKind, Registry
from tests.unit.loader_helpers import FIVE_MISTAKES, VALID, NetworkLatency, make_registry

REGISTRY = make_registry()


def load(text: str | bytes, **env: str) -> Experiment:
    return load_experiment_text(text, "exp.yaml", REGISTRY, env=env)


def errors(text: str | bytes, **env: str) -> list[Diagnostic]:
    with pytest.raises(ExperimentError) as info:
        load(text, **env)
    assert info.value.diagnostics, "an ExperimentError always says what is wrong"
    for d in info.value.diagnostics:
        assert d.line >= 1 and d.column >= 1, d
    return info.value.diagnostics


def one(text: str | bytes, **env: str) -> Diagnostic:
    found = errors(text, **env)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# ------------------------------------------------------------------------------------------------ good files


def test_valid_experiment_loads_with_units_and_kinds() -> None:
    exp = load(VALID)
    assert exp.title.startswith("Checkout")
    assert exp.phases.baseline == 15.0
    fault = exp.faults[0]
    assert isinstance(fault, NetworkLatency)
    assert fault.params.latency == pytest.approx(0.2)
    assert exp.slos[0].objective.holds(0.995)  # type: ignore[union-attr]
    assert exp.thresholds == (0.25, 0.6)


def test_load_experiment_reads_a_file_and_hands_validators_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(VALID)
    assert load_experiment(path, REGISTRY, env={}).title.startswith("Checkout")


def test_five_mistakes_give_five_located_errors() -> None:
    found = errors(FIVE_MISTAKES)
    rendered = [f"{d.line}:{d.column} {d.path}: {d.message} ({d.hint})" for d in found]
    assert rendered == [
        "6:16 target.processes[0].command: expected a list, got 'python -m targets.shop.api' "
        "(write a list: [a, b, c], or one '- item' per line)",
        "7:1 phase: unknown key 'phase' (did you mean 'phases'?)",
        "9:5 slos[0]: missing required key 'threshold' (None)",
        "11:26 faults[0].type: unknown fault type 'process.stpo' (did you mean 'process.stop'?)",
        "13:17 guardrails.max_duration: expected a duration such as 500ms, 5s or 2m, got '10 minutes' (None)",
    ]


def test_every_problem_is_reported_at_once_never_only_the_first() -> None:
    text = VALID.replace("users: 20", "users: lots").replace("jitter: 20ms", "jiter: 20ms")
    text = text.replace("status: 200", "")
    text += "extra_top: 1\n"
    paths = [d.path for d in errors(text)]
    assert paths == ["load.users", "faults[0].params.jiter", "extra_top"]


# --------------------------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("old", "new", "path", "message", "hint"),
    [
        ("jitter: 20ms", "jiter: 20ms", "faults[0].params.jiter", "unknown key 'jiter'", "did you mean 'jitter'?"),
        (
            "type: network.latency",
            "type: network.latncy",
            "faults[0].type",
            "unknown fault type 'network.latncy'",
            "did you mean 'network.latency'?",
        ),
        ("type: http", "type: htp", "probes[0].type", "unknown probe type 'htp'", "did you mean 'http'?"),
        (
            "sli: success_rate",
            "sli: sucess_rate",
            "slos[0].sli",
            "unknown sli 'sucess_rate'",
            "did you mean 'success_rate'?",
        ),
        ("users: 20", "users: abc", "load.users", "expected an integer, got 'abc'", None),
        ("users: 20", "users: 0", "load.users", "must be at least 1, got 0", None),
        ("percentile: 95", "percentile: high", "slos[1].percentile", "expected a number, got 'high'", None),
        ("version: 1", "version: 2", "version", "unsupported format version 2", "this chaoskit reads 'version: 1'"),
        (
            "name: store\n",
            "name: my store\n",
            "target.processes[0].name",
            "expected a name of letters, digits, '.', '_' and '-', got 'my store'",
            "start with a letter or digit; no spaces",
        ),
        (
            'upstream: "127.0.0.1:7001"',
            'upstream: "localhost"',
            "proxies[0].upstream",
            "expected HOST:PORT such as 127.0.0.1:7001, got 'localhost'",
            None,
        ),
        (
            'ready: {tcp: "127.0.0.1:7001"}',
            "ready: {}",
            "target.processes[0].ready",
            "give exactly one of http, tcp or command",
            None,
        ),
        ("[echo, restored]", "[]", "rollbacks[0].command", "must not be empty", None),
        (
            '"7001"]',
            "7001]",
            "target.processes[0].command[4]",
            "expected a string, got 7001",
            "put the value in quotes to make it a string",
        ),
        (
            "max_duration: 10m",
            "max_duration: {}",
            "guardrails.max_duration",
            "expected a duration such as 500ms, 5s or 2m, got a mapping",
            None,
        ),
        (
            "type: process.stop",
            "type: [process.stop]",
            "faults[1].type",
            "expected the fault type as a string, got a list",
            "one of: network.latency, process.kill, process.stop",
        ),
    ],
)
def test_messages_are_plain_words_with_hints(old: str, new: str, path: str, message: str, hint: str | None) -> None:
    assert old in VALID
    d = one(VALID.replace(old, new, 1))
    assert (d.path, d.message, d.hint) == (path, message, hint)
    assert "Value error" not in d.message and "pydantic" not in str(d)


def test_odd_keys_are_quoted_in_paths_and_never_break_the_line() -> None:
    d = one(VALID.replace("  users: 20", '  users: 20\n  "a b\\n": 1'))
    assert d.path == 'load["a b\\n"]' and d.message == "unknown key 'a b\\n'"
    assert "\n" not in str(d)
    d = one(VALID.replace("  users: 20", '  users: 20\n  "A\\n": 1'))
    assert d.path == 'load["A\\n"]'


def test_unknown_key_is_located_at_the_key_and_lists_allowed_keys_when_nothing_is_close() -> None:
    text = VALID.replace("  users: 20", "  users: 20\n  zzzzz: 1")
    d = one(text)
    assert (d.line, d.column) == (line_of(text, "zzzzz"), 3)
    assert d.hint is not None and d.hint.startswith("allowed keys: ") and "locustfile" in d.hint


def test_missing_key_is_located_at_the_parent_mapping() -> None:
    text = VALID.replace("    duration: 20s\n", "")
    d = one(text)
    assert d.path == "faults[0]" and d.message == "missing required key 'duration'"
    assert (d.line, d.column) == (line_of(text, "name: store-latency"), 5)


def test_missing_type_names_the_kinds() -> None:
    d = one(VALID.replace("type: process.stop, ", ""))
    assert d.message == "missing required key 'type'"
    assert d.hint is not None and "process.stop" in d.hint


def test_a_file_that_is_not_a_mapping() -> None:
    assert one("- a\n- b\n").message.startswith("an experiment must be a mapping")
    assert "got a string" in one("just words\n").message
    assert one("").message == "the file is empty"
    assert one("# only a comment\n").message == "the file is empty"


# ------------------------------------------------------------------------------------------------- YAML


def test_yaml_syntax_error_is_located_with_a_tab_hint() -> None:
    d = one("version: 1\ntitle: x\nphases:\n\twarmup: 1s\n")
    assert d.line == 4 and d.message.startswith("invalid YAML")
    assert d.hint is not None and "tabs" in d.hint


def test_unquoted_env_var_in_a_flow_mapping_gets_a_quoting_hint() -> None:
    d = one("version: 1\ntitle: x\nprobes:\n  - {name: p, type: tcp, address: ${HOST}:7001}\n")
    assert d.line == 4 and d.message.startswith("invalid YAML")
    assert d.hint is not None and "quoted" in d.hint
    text = 'version: 1\ntitle: x\nprobes:\n  - {name: p, type: tcp, address: "${HOST}:7001"}\n'
    quoted = load(text, HOST="127.0.0.1")
    assert quoted.probes[0].address == "127.0.0.1:7001"
    assert one("version: 1\ntitle: [x\n").hint is None


def test_unclosed_flow_is_a_syntax_error() -> None:
    d = one("version: 1\ntitle: [x\n")
    assert d.message.startswith("invalid YAML") and d.line >= 2


def test_duplicate_keys_are_errors_at_the_second_key() -> None:
    text = VALID.replace("  users: 20\n", "  users: 20\n  users: 30\n")
    d = one(text)
    assert d.message == "duplicate key 'users'" and d.path == "load.users"
    assert (d.line, d.column) == (line_of(text, "users: 30"), 3)
    assert d.hint == f"first given at line {line_of(text, 'users: 20')}"


def test_duplicate_names_in_a_list() -> None:
    text = VALID.replace("name: stop-api", "name: store-latency")
    d = one(text)
    assert d.path == "faults[1].name" and d.message == "duplicate name 'store-latency'"
    assert d.hint == f"first used by faults[0] at line {line_of(text, 'name: store-latency')}"


def test_a_proxy_and_a_process_may_share_a_name_but_not_listen_addresses() -> None:
    text = VALID.replace(
        '  - {name: store, listen: "127.0.0.1:7002", upstream: "127.0.0.1:7001"}',
        '  - {name: store, listen: "127.0.0.1:7002", upstream: "127.0.0.1:7001"}\n'
        '  - {name: other, listen: "127.0.0.1:7002", upstream: "127.0.0.1:7003"}',
    )
    d = one(text)
    assert d.path == "proxies[1].listen" and "already used by proxy 'store'" in d.message


def test_aliases_share_values_and_errors_point_at_the_anchor() -> None:
    text = VALID.replace("duration: 20s", "duration: &d 20s").replace("duration: 10s", "duration: *d")
    assert [f.duration for f in load(text).faults] == [20.0, 20.0]
    text = VALID.replace("params: {latency: 200ms, jitter: 20ms}", "params: &p {latency: 200ms, jiter: 20ms}")
    d = one(text)
    assert d.path == "faults[0].params.jiter" and d.line == line_of(text, "&p")


def test_merge_key_values_reach_the_model() -> None:
    text = VALID.replace(
        "phases: {warmup: 5s, baseline: 15s, recovery: 30s}",
        "phases:\n  <<: {warmup: 5s, baseline: 15s}\n  recovery: 30s\n  baseline: 16s",
    )
    exp = load(text)
    assert (exp.phases.warmup, exp.phases.baseline, exp.phases.recovery) == (5.0, 16.0, 30.0)


def test_billion_laughs_is_stopped() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    d = one("\n".join(lines) + "\n")
    assert f"more than {MAX_VALUES} values" in d.message and d.hint is not None and "aliases" in d.hint


def test_recursive_and_undefined_aliases() -> None:
    d = one("version: 1\ntitle: x\ntags: &x [a, *x]\n")
    assert (d.path, d.line, d.column) == ("tags[1]", 3, 14) and "contains it" in d.message
    assert one("version: 1\ntitle: *nope\n").message == "undefined alias *nope"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    for n in (MAX_DEPTH + 1, 200_000):
        d = one("a: " + "[" * n + "]" * n + "\n")
        assert "levels deep" in d.message


def test_huge_numbers_and_odd_scalars() -> None:
    d = one("version: 1\ntitle: x\nphases: {window: " + "9" * 5000 + "}\n")
    assert d.path == "phases.window" and "cannot read" in d.message
    assert one("version: 1\ntitle: x\nload: {users: 1e400}\n").path == "load.users"
    exp = load("version: 1\ntitle: 2024-01-01\n")  # a date stays the text the user wrote
    assert exp.title == "2024-01-01"


def test_unsupported_tags() -> None:
    d = one("version: 1\ntitle: !!python/object:os.system x\n")
    assert d.message.startswith("unsupported YAML tag") and d.path == "title"
    assert one("version: 1\ntitle: x\ntags: !!set {a, b}\n").path == "tags"


def test_two_documents_are_one_too_many() -> None:
    assert "second YAML document" in one("version: 1\ntitle: a\n---\nversion: 1\ntitle: b\n").message


def test_bytes_are_decoded_and_bad_encodings_are_located() -> None:
    assert load(VALID.encode()).title.startswith("Checkout")
    assert load(b"\xef\xbb\xbf" + VALID.encode()).title.startswith("Checkout")
    assert load(VALID.encode("utf-16")).title.startswith("Checkout")
    d = one(b"version: 1\ntitle: caf\xe9\n")
    assert (d.line, d.column) == (2, 11) and "UTF-8" in d.message


def test_control_characters_are_reported() -> None:
    assert "unreadable YAML" in one("version: 1\ntitle: a\x00b\n").message


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_missing_files_and_directories(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nope.yaml" if kind == "missing" else tmp_path
    with pytest.raises(ExperimentError) as info:
        load_experiment(path, REGISTRY)
    (d,) = info.value.diagnostics
    assert d.file == str(path) and (d.line, d.column) == (1, 1)


# ------------------------------------------------------------------------------------------------- ${ENV}


def test_env_substitution_with_defaults_escapes_and_types() -> None:
    text = (
        VALID.replace("users: 20", "users: ${USERS}")
        .replace("rate: 200/s", "rate: ${RATE:-100/s}")
        .replace("title: Checkout tolerates 200 ms of latency to its store", 'title: "$${NOT_A_VAR} ${WHO:-team}"')
    )
    exp = load(text, USERS="35")
    assert exp.load is not None and exp.load.users == 35 and exp.load.rate == 100.0
    assert exp.title == "${NOT_A_VAR} team"


def test_unset_variable_is_a_located_error_and_hides_its_knock_on_error() -> None:
    text = VALID.replace("max_duration: 10m", "max_duration: ${MAXDUR}")
    d = one(text)
    assert d.path == "guardrails.max_duration"
    assert d.message == "environment variable 'MAXDUR' is not set"
    assert d.hint == "set it, or give a default: ${MAXDUR:-value}"
    assert (d.line, d.column) == (line_of(text, "MAXDUR"), 17)


def test_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOSKIT_TEST_TITLE", "from the environment")
    exp = load_experiment_text("version: 1\ntitle: ${CHAOSKIT_TEST_TITLE}\n", "x", REGISTRY)
    assert exp.title == "from the environment"


def test_an_empty_substitution_is_an_empty_string_not_null() -> None:
    exp = load(VALID.replace("request: /checkout", "request: ${REQUEST:-}"))
    assert exp.slos[1].request == ""


def test_quoted_substitutions_stay_strings() -> None:
    d = one(VALID.replace("users: 20", 'users: "${USERS}x"'), USERS="3")
    assert d.message == "expected an integer, got '3x'"


# ------------------------------------------------------------------------------------------- cross-checks


def test_fault_problems_are_located_inside_the_fault() -> None:
    text = VALID.replace("target: {proxy: store}", "target: {proxy: stor}")
    d = one(text)
    assert d.path == "faults[0].target.proxy" and d.message == "no proxy named 'stor'"
    assert d.line == line_of(text, "proxy: stor")


def test_load_generator_must_be_installed() -> None:
    registry = make_registry(load=False)
    with pytest.raises(ExperimentError) as info:
        load_experiment_text(VALID, "x", registry, env={})
    (d,) = info.value.diagnostics
    assert d.path == "load" and d.message == "unknown load generator 'locust'"
    assert d.hint == "install it with: pip install 'chaoskit[load]'"
    d = one(VALID.replace("  users: 20", "  generator: locsut\n  users: 20"))
    assert d.path == "load.generator" and d.hint == "did you mean 'locust'?"


def test_slo_source_must_be_a_probe_or_load() -> None:
    d = one(VALID.replace("source: health", "source: helth"))
    assert d.path == "slos[2].source" and d.hint == "did you mean 'health'?"


# ------------------------------------------------------------------------------------------- plugin bugs


class FragileFault(FaultSpec):
    type: Literal["fragile"]
    size: int = 0

    @field_validator("size", mode="before")
    @classmethod
    def _crash(cls, value: object) -> object:
        if value == "crash":
            raise TypeError("boom")
        return value

    def problems(self, experiment: Experiment) -> list[Problem]:
        if self.size == 13:
            raise RuntimeError("unlucky")
        return []


class FragilePlugin:
    @hookimpl
    def chaoskit_register_faults(self, register: Registry) -> None:
        register.add_fault(FaultKind("fragile", FragileFault, lambda *a: [], lambda *a: None))  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(("size", "message"), [("crash", "validation failed unexpectedly"), (13, "the check of")])
def test_a_plugin_that_raises_still_gives_a_diagnostic(size: object, message: str) -> None:
    registry = plugin_manager(builtins=(), entry_points_enabled=False, extra=[FragilePlugin()]).registry
    text = f"version: 1\ntitle: x\nfaults:\n  - {{name: f, type: fragile, duration: 1s, size: {size}}}\n"
    with pytest.raises(ExperimentError) as info:
        load_experiment_text(text, "x", registry)
    (d,) = info.value.diagnostics
    assert d.message.startswith(message) and d.hint
