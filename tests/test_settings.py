"""Settings: layers, precedence, secrets and one-line errors (daemon/settings.py)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from daemon.errors import ConfigError
from daemon.settings import Settings, load_settings, resolve_config_path

EXAMPLE = Path(__file__).parents[1] / "config/speckitd.toml"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    return write(
        tmp_path / "speckitd.toml",
        """\
[daemon]
http = "0.0.0.0:9000"

[[repos]]
name = "acme/todo"
path = "/srv/todo"

[agent]
default = "toml-agent"
max_turns = 10

[forge.github]
token = "toml-token"
""",
    )


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    write(directory / "forge__github__token", "file-token\n")
    write(directory / "anthropic__api_key", "file-key\n")
    return directory


def test_defaults_without_a_file(tmp_path, monkeypatch):
    """With no config file anywhere, every key has its documented default."""
    if Path("/etc/speckitd/speckitd.toml").exists():
        pytest.skip("this machine has /etc/speckitd/speckitd.toml")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.daemon.http == "127.0.0.1:8787"
    assert settings.daemon.state_dir == Path("~/.local/state/speckitd").expanduser()
    assert settings.repos == []
    assert settings.approval.signals == ["marker", "frontmatter", "trailer"]
    assert settings.approval.allowed_signers == ""
    assert settings.agent.default == "backend-engineer"
    assert (settings.agent.concurrency, settings.agent.max_turns) == (2, 40)
    assert settings.anthropic.models["sonnet"] == "claude-sonnet-5-5"
    assert settings.anthropic.api_key.get_secret_value() == ""
    assert settings.forge.kind == "local"
    assert settings.checks.sandbox == "auto"
    assert settings.spec.task_files[-1] == "specs/*/tasks.md"
    assert settings.spec.max_file_bytes == 8 * 1024 * 1024


def test_settings_constructor_reads_nothing_but_its_arguments():
    """``Settings()`` ignores the process environment; only load_settings layers sources."""
    assert Settings(agent={"max_turns": 3}).agent.max_turns == 3


def test_toml_values_are_loaded(toml):
    """Keys in the TOML file replace the defaults; keys it leaves out keep them."""
    settings = load_settings(toml, environ={})
    assert settings.daemon.http == "0.0.0.0:9000"
    assert settings.repos[0].name == "acme/todo"
    assert settings.repos[0].branch == "main"
    assert settings.agent.default == "toml-agent"
    assert settings.agent.max_turns == 10
    assert settings.agent.concurrency == 2
    assert settings.forge.github.token.get_secret_value() == "toml-token"


def test_env_overrides_toml_and_deep_merges(toml):
    """A nested variable overrides one key; the rest of the TOML table is kept."""
    settings = load_settings(toml, environ={"SPECKITD_AGENT__MAX_TURNS": "12"})
    assert settings.agent.max_turns == 12
    assert settings.agent.default == "toml-agent"


def test_env_list_values_are_json(toml):
    """A list-valued key takes JSON from the environment."""
    environ = {"SPECKITD_APPROVAL__APPROVERS": '["Bob@Example.com"]'}
    assert load_settings(toml, environ=environ).approval.approvers == ["bob@example.com"]


def test_credential_file_overrides_toml(toml, credentials):
    """A credential file beats the TOML value of the same key."""
    settings = load_settings(toml, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert settings.forge.github.token.get_secret_value() == "file-token"
    assert settings.anthropic.api_key.get_secret_value() == "file-key"


def test_env_overrides_credential_file(toml, credentials):
    """An environment variable beats a credential file of the same key."""
    environ = {
        "CREDENTIALS_DIRECTORY": str(credentials),
        "SPECKITD_FORGE__GITHUB__TOKEN": "env-token",
    }
    settings = load_settings(toml, environ=environ)
    assert settings.forge.github.token.get_secret_value() == "env-token"
    assert settings.anthropic.api_key.get_secret_value() == "file-key"


def test_overrides_beat_everything(toml, credentials):
    """Explicit overrides (the command line) beat the environment and every file."""
    environ = {"CREDENTIALS_DIRECTORY": str(credentials), "SPECKITD_AGENT__MAX_TURNS": "12"}
    overrides = {"agent": {"max_turns": 7}, "forge": {"github": {"token": "cli-token"}}}
    settings = load_settings(toml, environ=environ, overrides=overrides)
    assert settings.agent.max_turns == 7
    assert settings.agent.default == "toml-agent"
    assert settings.forge.github.token.get_secret_value() == "cli-token"


def test_credential_trailing_newline_is_stripped(tmp_path):
    """A credential file's trailing newline is not part of the secret."""
    directory = tmp_path / "creds"
    directory.mkdir()
    write(directory / "forge__github__webhook_secret", "s3cret\n")
    settings = load_settings(environ={"CREDENTIALS_DIRECTORY": str(directory)})
    assert settings.forge.github.webhook_secret.get_secret_value() == "s3cret"


def test_missing_credentials_directory_is_an_error(tmp_path):
    """A $CREDENTIALS_DIRECTORY that does not exist is reported, not ignored."""
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match="CREDENTIALS_DIRECTORY"):
        load_settings(environ={"CREDENTIALS_DIRECTORY": str(missing)})


def test_secrets_never_in_repr_or_json(toml, credentials):
    """Secret values appear in neither repr() nor model_dump_json()."""
    environ = {
        "CREDENTIALS_DIRECTORY": str(credentials),
        "SPECKITD_FORGE__GITHUB__WEBHOOK_SECRET": "hook-secret",
    }
    settings = load_settings(toml, environ=environ)
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        for secret in ("file-token", "file-key", "hook-secret"):
            assert secret not in text
    assert "**********" in settings.model_dump_json()


def test_unknown_toml_key_names_the_key(tmp_path):
    """A typo in the TOML is an error naming the file and the dotted key."""
    path = write(tmp_path / "speckitd.toml", "[agent]\nmax_turn = 3\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    assert str(raised.value) == f"{path}: agent.max_turn: unknown key"


def test_unknown_env_key_names_the_variable(tmp_path):
    """A typo in a nested variable is an error naming the variable."""
    environ = {"SPECKITD_AGENT__MAX_TURN": "3"}
    with pytest.raises(ConfigError, match=r"^SPECKITD_AGENT__MAX_TURN: agent\.max_turn: unknown"):
        load_settings(write(tmp_path / "empty.toml", ""), environ=environ)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[agent]\nmax_turns = 3\ndefault = = "x"\n', 3),
        ("[agent]\n[agent]\n", 2),
        ("[agent]\nmax_turns = [1,\n", 2),
    ],
)
def test_bad_toml_reports_path_and_line(tmp_path, text, line):
    """A TOML syntax error is one line starting ``path:LINE:``."""
    path = write(tmp_path / "speckitd.toml", text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    message = str(raised.value)
    assert message.startswith(f"{path}:{line}: ")
    assert "\n" not in message


def test_bad_type_names_the_dotted_key(tmp_path):
    """A value of the wrong type names the file and ``agent.max_turns``."""
    path = write(tmp_path / "speckitd.toml", '[agent]\nmax_turns = "many"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    assert str(raised.value).startswith(f"{path}: agent.max_turns: Input should be a valid integer")


def test_bad_env_value_names_the_variable(toml):
    """A bad value from the environment names the variable, not the TOML file."""
    with pytest.raises(ConfigError, match=r"^SPECKITD_AGENT__MAX_TURNS: agent\.max_turns: "):
        load_settings(toml, environ={"SPECKITD_AGENT__MAX_TURNS": "many"})


def test_bad_json_in_env_names_the_variable(toml):
    """A list-valued variable that is not JSON names the variable."""
    with pytest.raises(ConfigError, match=r"^SPECKITD_REPOS: repos: cannot parse"):
        load_settings(toml, environ={"SPECKITD_REPOS": "acme/todo"})


def test_bad_secret_is_not_echoed(tmp_path):
    """An invalid secret-bearing section is reported without the secret's value."""
    text = '[forge.github]\ntoken = "s3cret-token"\nwebhook_secret = ["s3cret-hook"]\n'
    path = write(tmp_path / "speckitd.toml", text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    message = str(raised.value)
    assert message.startswith(f"{path}: forge.github.webhook_secret: ")
    assert "s3cret" not in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[agent]\nconcurrency = 0\n", "agent.concurrency"),
        ("[spec]\nmax_file_bytes = 0\n", "spec.max_file_bytes"),
        ('[daemon]\nhttp = "8787"\n', "daemon.http"),
        ('[approval]\nsignals = ["emoji"]\n', "approval.signals[0]"),
        ('[checks]\nsandbox = "docker"\n', "checks.sandbox"),
        ('[[repos]]\nname = "a"\n', "repos[0].path"),
        ('[[repos]]\nname = "a"\npath = "/a"\n[[repos]]\nname = "a"\npath = "/b"\n', "repos"),
        ('[forge]\nkind = "github"\n', "forge"),
    ],
)
def test_invalid_values_name_the_key(tmp_path, text, key):
    """Out-of-range, malformed or inconsistent values are errors naming the key."""
    path = write(tmp_path / "speckitd.toml", text)
    with pytest.raises(ConfigError, match=f"^{re.escape(f'{path}: {key}: ')}"):
        load_settings(path, environ={})


def test_missing_explicit_config_is_an_error(tmp_path):
    """A config path given explicitly must exist."""
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_missing_config_from_env_is_an_error(tmp_path):
    """A $SPECKITD_CONFIG that does not exist is an error naming the variable."""
    environ = {"SPECKITD_CONFIG": str(tmp_path / "missing.toml")}
    with pytest.raises(ConfigError, match=r"not found \(\$SPECKITD_CONFIG\)"):
        load_settings(environ=environ)


def test_config_from_env_is_used(toml):
    """$SPECKITD_CONFIG names the file when no path is given."""
    settings = load_settings(environ={"SPECKITD_CONFIG": str(toml)})
    assert settings.agent.default == "toml-agent"


def test_explicit_config_beats_env_config(toml, tmp_path):
    """An explicit path wins over $SPECKITD_CONFIG."""
    environ = {"SPECKITD_CONFIG": str(tmp_path / "missing.toml")}
    assert load_settings(toml, environ=environ).agent.default == "toml-agent"


def test_config_in_working_directory_is_found(toml, monkeypatch):
    """./speckitd.toml is read when neither a path nor $SPECKITD_CONFIG is given."""
    monkeypatch.chdir(toml.parent)
    assert resolve_config_path(None, {}) == Path("speckitd.toml")
    assert load_settings(environ={}).agent.default == "toml-agent"


def test_directory_as_config_is_an_error(tmp_path):
    """A config path that is a directory is an error, not silently empty."""
    with pytest.raises(ConfigError, match="not a file"):
        load_settings(tmp_path, environ={})


def test_approvers_are_lowercased(tmp_path):
    """Approver e-mails compare case-insensitively, so they are stored lowercased."""
    path = write(tmp_path / "s.toml", '[approval]\napprovers = ["Alice@Example.COM", "bob"]\n')
    assert load_settings(path, environ={}).approval.approvers == ["alice@example.com", "bob"]


def test_model_aliases_keep_defaults(tmp_path):
    """Overriding one model alias keeps the other default aliases."""
    path = write(tmp_path / "s.toml", '[anthropic]\nmodels = { sonnet = "my-sonnet" }\n')
    models = load_settings(path, environ={}).anthropic.models
    assert models == {"sonnet": "my-sonnet", "opus": "claude-opus-5-5", "haiku": "claude-haiku-5-5"}


def test_settings_are_frozen(tmp_path):
    """The settings object cannot be changed after start-up."""
    settings = load_settings(write(tmp_path / "s.toml", ""), environ={})
    with pytest.raises(ValueError, match="frozen"):
        settings.agent.max_turns = 1


def test_example_config_loads():
    """The documented example config/speckitd.toml loads without error."""
    settings = load_settings(EXAMPLE, environ={})
    assert settings.repos[0].name == "acme/todo"
    assert settings.forge.kind == "local"


def keys_of(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, leaf name)`` for every leaf key of ``model``, through lists and tables."""
    out: list[tuple[str, str]] = []
    for name, field in model.model_fields.items():
        inner = [field.annotation, *typing.get_args(field.annotation)]
        nested = [kind for kind in inner if isinstance(kind, type) and issubclass(kind, BaseModel)]
        if nested:
            out.extend(keys_of(nested[0], f"{prefix}{name}."))
        else:
            out.append((f"{prefix}{name}", name))
    return out


def test_example_config_documents_every_key():
    """Every settings key appears in the example config, so the example stays complete."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for dotted, leaf in keys_of(Settings):
        assert any(line.startswith(f"{leaf} = ") for line in lines), dotted
