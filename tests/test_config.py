from __future__ import annotations

from pathlib import Path

import pytest

from spyglass.config import SETTINGS, ConfigError, Settings, load_settings


def test_defaults() -> None:
    settings = load_settings({}, environ={})
    assert settings == Settings()
    assert (settings.host, settings.otlp_grpc_port, settings.otlp_http_port, settings.ui_port) == (
        "127.0.0.1",
        4317,
        4318,
        8317,
    )
    assert settings.data_dir == "./spyglass-data"
    assert settings.max_request_size == 64 * 1024 * 1024


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    config = tmp_path / "spyglass.yaml"
    config.write_text("ui_port: 9000\notlp-http-port: 9001\notlp_grpc_port: 9002\ncors_allowed_origins: [a, b]\n")
    env = {"SPYGLASS_UI_PORT": "9100", "SPYGLASS_OTLP_HTTP_PORT": "9101"}
    settings = load_settings({"ui_port": "9200"}, environ=env, config_file=str(config))
    assert settings.ui_port == 9200  # flag
    assert settings.otlp_http_port == 9101  # environment
    assert settings.otlp_grpc_port == 9002  # file
    assert settings.cors_allowed_origins == ["a", "b"]
    assert settings.host == "127.0.0.1"  # default


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("max_request_size: 1MiB\ncommit_window: 50ms\n")
    settings = load_settings({}, environ={"SPYGLASS_CONFIG": str(config)})
    assert settings.max_request_size == 1024 * 1024
    assert settings.commit_window == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"ui_port": "70000"}, "invalid value for setting 'ui_port' (from flag --ui-port): port must be between"),
        ({"otlp_grpc_port": "abc"}, "invalid value for setting 'otlp_grpc_port' (from flag --otlp-grpc-port)"),
        ({"max_request_size": "lots"}, "invalid value for setting 'max_request_size'"),
        ({"log_level": "loud"}, "invalid value for setting 'log_level' (from flag --log-level): expected one of"),
        ({"commit_window": "-1s"}, "invalid value for setting 'commit_window'"),
    ],
)
def test_bad_flag_names_the_setting(source: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(source, environ={})
    assert str(err.value).startswith(message)


def test_bad_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"'ui_port' \(from environment SPYGLASS_UI_PORT\)"):
        load_settings({}, environ={"SPYGLASS_UI_PORT": "-3"})


def test_bad_config_files(tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("no_such_setting: 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'no_such_setting'"):
        load_settings({}, environ={}, config_file=str(unknown))
    broken = tmp_path / "broken.yaml"
    broken.write_text("ui_port: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_settings({}, environ={}, config_file=str(broken))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings({}, environ={}, config_file=str(tmp_path / "missing.yaml"))
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_settings({}, environ={}, config_file=str(scalar))


def test_every_setting_has_a_field_and_help() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert {s.name for s in SETTINGS} == fields
    for s in SETTINGS:
        assert s.help.endswith(".") or s.help.endswith(")"), s.name
        assert s.env == "SPYGLASS_" + s.name.upper()
        assert getattr(Settings(), s.name) == s.default
