"""The daemon's settings (DESIGN §8): one TOML file, ``SPECKITD_*`` variables, credential files.

:func:`load_settings` builds the one :class:`Settings` object at start-up; everything else
receives it (or a section of it) as an argument. Layers, highest priority first:

1. ``overrides`` passed to :func:`load_settings` (the command line);
2. ``SPECKITD_*`` environment variables, ``__`` for nesting (``SPECKITD_AGENT__MAX_TURNS``);
3. credential files in ``$CREDENTIALS_DIRECTORY``, named like the key with ``__`` for nesting
   (``forge__github__token``; systemd ``LoadCredential=``), surrounding whitespace stripped;
4. the TOML file;
5. the defaults below.

Nested tables merge key by key across layers. Every section forbids unknown keys, so a typo
is an error. Secrets are :class:`~pydantic.SecretStr`: ``repr`` and JSON show ``**********``.
``Settings(...)`` on its own reads nothing but its arguments; only :func:`load_settings`
reads the environment and files, and only from the mapping it is given.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import takewhile
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources import DefaultSettingsSource

from daemon.errors import ConfigError

ENV_PREFIX: Final = "SPECKITD_"
NESTED_DELIMITER: Final = "__"
CONFIG_ENV: Final = "SPECKITD_CONFIG"
CREDENTIALS_ENV: Final = "CREDENTIALS_DIRECTORY"
DEFAULT_CONFIG_PATHS: Final = (Path("speckitd.toml"), Path("/etc/speckitd/speckitd.toml"))
DEFAULT_MODELS: Final[Mapping[str, str]] = {
    "sonnet": "claude-sonnet-5-5",
    "opus": "claude-opus-5-5",
    "haiku": "claude-haiku-5-5",
}

_SECTION = ConfigDict(extra="forbid", frozen=True, validate_default=True)
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")
_ENVIRONMENT: Final = "environment"
_CREDENTIALS: Final = f"${CREDENTIALS_ENV}"
_UNPARSABLE = re.compile(r'error parsing value for field "(\w+)" from source "(\w+)"')

Positive = Annotated[int, Field(gt=0)]
NonNegative = Annotated[int, Field(ge=0)]
Signal = Literal["marker", "frontmatter", "trailer", "review"]
DEFAULT_SIGNALS: Final[tuple[Signal, ...]] = ("marker", "frontmatter", "trailer")


class DaemonSettings(BaseModel):
    """``[daemon]``: where state lives and where the HTTP endpoints listen."""

    model_config = _SECTION

    state_dir: Path = Path("~/.local/state/speckitd")
    http: str = "127.0.0.1:8787"
    rescan_minutes: Positive = 10
    stop_timeout_seconds: Positive = 60

    @field_validator("state_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("http")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, colon, port = value.rpartition(":")
        if not (host and colon and port.isdigit() and int(port) <= 65535):
            raise ValueError('expected "host:port", e.g. "127.0.0.1:8787"')
        return value


class RepoSettings(BaseModel):
    """One ``[[repos]]`` entry: a watched repository and branch."""

    model_config = _SECTION

    name: str = Field(min_length=1)
    path: Path
    url: str | None = None
    branch: str = Field(default="main", min_length=1)
    poll_seconds: Positive = 60

    @field_validator("path")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


class ApprovalSettings(BaseModel):
    """``[approval]``: who may approve tasks, and which signals count."""

    model_config = _SECTION

    approvers: list[str] = Field(default_factory=list)
    require_signed: bool = False
    allowed_signers: str = ""
    signals: list[Signal] = Field(default_factory=lambda: list(DEFAULT_SIGNALS))

    @field_validator("approvers")
    @classmethod
    def _lowercase(cls, value: list[str]) -> list[str]:
        return [approver.strip().lower() for approver in value]


class AgentRoute(BaseModel):
    """One ``[[agent.routes]]``: tasks naming such paths, or with such a tag, go to ``agent``."""

    model_config = _SECTION

    agent: str = Field(min_length=1)
    paths: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class AgentSettings(BaseModel):
    """``[agent]``: which agent runs a task and the budget of one run."""

    model_config = _SECTION

    default: str = Field(default="backend-engineer", min_length=1)
    routes: list[AgentRoute] = Field(default_factory=list)
    model: str = Field(default="sonnet", min_length=1)
    concurrency: Positive = 2
    repair_rounds: NonNegative = 2
    max_turns: Positive = 40
    max_cost_usd: float = Field(default=5.0, gt=0)
    max_minutes: Positive = 30
    max_tokens: Positive = 4_000_000
    max_output_tokens: Positive = 8192
    context_bytes: Positive = 200_000


class Price(BaseModel):
    """US dollars per million tokens of one model."""

    model_config = _SECTION

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0)
    cache_read: float = Field(ge=0)


# Published list prices per million tokens; cache writes (5-minute) cost 1.25x input,
# cache reads 0.1x. Override in [anthropic.prices."<model id>"].
DEFAULT_PRICES: Final[Mapping[str, Price]] = {
    "claude-sonnet-5-5": Price(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30),
    "claude-opus-5-5": Price(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
    "claude-haiku-5-5": Price(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10),
}


class AnthropicSettings(BaseModel):
    """``[anthropic]``: the model API; ``models`` maps aliases onto model ids.

    The SDK's own retries are off by default (``sdk_retries``): the runner retries
    429/5xx/529 itself, honouring ``retry-after`` beyond the SDK's 60 s cap, keeping
    under ``max_requests_per_minute`` and giving up after ``max_retry_wait_seconds``.
    """

    model_config = _SECTION

    base_url: str = "https://api.anthropic.com"
    api_key: SecretStr = SecretStr("")
    models: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MODELS))
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    request_timeout_seconds: float = Field(default=300, gt=0)
    sdk_retries: NonNegative = 0
    max_retry_wait_seconds: float = Field(default=900, ge=0)
    max_requests_per_minute: float = Field(default=6, gt=0)

    @field_validator("models")
    @classmethod
    def _keep_default_aliases(cls, value: dict[str, str]) -> dict[str, str]:
        # Overriding one alias must not drop the others that agent files refer to.
        return {**DEFAULT_MODELS, **value}

    @field_validator("prices")
    @classmethod
    def _keep_default_prices(cls, value: dict[str, Price]) -> dict[str, Price]:
        return {**DEFAULT_PRICES, **value}


class GitHubSettings(BaseModel):
    """``[forge.github]``: a token, or a GitHub App (``app_id`` and ``private_key_path``)."""

    model_config = _SECTION

    api_url: str = "https://api.github.com"
    token: SecretStr = SecretStr("")
    app_id: NonNegative = 0
    private_key_path: str = ""
    webhook_secret: SecretStr = SecretStr("")


class ForgeSettings(BaseModel):
    """``[forge]``: where pull requests go; ``local`` needs no forge at all."""

    model_config = _SECTION

    kind: Literal["local", "github"] = "local"
    github: GitHubSettings = Field(default_factory=GitHubSettings)

    @model_validator(mode="after")
    def _github_credentials(self) -> ForgeSettings:
        github = self.github
        has_app = bool(github.app_id and github.private_key_path)
        if self.kind == "github" and not (github.token.get_secret_value() or has_app):
            raise ValueError('kind "github" needs github.token or github.app_id + private_key_path')
        return self


class PublishSettings(BaseModel):
    """``[publish]``: how the daemon's commits, branches and pull requests look."""

    model_config = _SECTION

    remote: str = "origin"  # "" keeps task branches in the local clone
    author_name: str = Field(default="speckitd", min_length=1)
    author_email: str = Field(default="speckitd@localhost", min_length=3)
    attribution: list[str] = Field(default_factory=list)
    draft: bool = False
    labels: list[str] = Field(default_factory=lambda: ["speckitd"])
    request_review: bool = True
    allowed_hosts: list[str] = Field(default_factory=lambda: ["github.com"])
    ssh_key_path: str = ""

    @field_validator("attribution")
    @classmethod
    def _trailer_lines(cls, value: list[str]) -> list[str]:
        for line in value:
            if ":" not in line or "\n" in line:
                raise ValueError(f"not a 'Key: value' trailer line: {line!r}")
        return value


class ChecksSettings(BaseModel):
    """``[checks]``: the commands that must pass before a pull request is opened."""

    model_config = _SECTION

    sandbox: Literal["auto", "bwrap", "none"] = "auto"
    commands: list[str] = Field(default_factory=lambda: ["ruff check backend", "pytest -q backend"])
    timeout_seconds: Positive = 600


class SpecSettings(BaseModel):
    """``[spec]``: which files are task files (globs, ``**`` allowed) and how big they may be."""

    model_config = _SECTION

    task_files: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: [
            "speckit.tasks",
            "speckit.tasks.md",
            "specs/speckit.tasks",
            "specs/*/tasks.md",
        ]
    )
    max_file_bytes: Positive = 8 * 1024 * 1024


class Settings(BaseSettings):
    """All of speckitd's settings; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
    )

    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    repos: list[RepoSettings] = Field(default_factory=list)
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    anthropic: AnthropicSettings = Field(default_factory=AnthropicSettings)
    forge: ForgeSettings = Field(default_factory=ForgeSettings)
    checks: ChecksSettings = Field(default_factory=ChecksSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    spec: SpecSettings = Field(default_factory=SpecSettings)

    @field_validator("repos")
    @classmethod
    def _unique_names(cls, value: list[RepoSettings]) -> list[RepoSettings]:
        names = [repo.name for repo in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"repository names must be unique: {', '.join(duplicates)}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read nothing but the arguments; :func:`load_settings` adds the other layers."""
        return (init_settings,)


class _EnvironSource(EnvSettingsSource):
    """``SPECKITD_*`` variables from a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(
            settings_cls,
            case_sensitive=False,
            env_prefix=ENV_PREFIX,
            env_nested_delimiter=NESTED_DELIMITER,
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Called by the base __init__; the base version reads os.environ.
        prefix = ENV_PREFIX.lower()
        lowered = {name.lower(): value for name, value in self._environ.items()}
        return {name: value for name, value in lowered.items() if name.startswith(prefix)}


def resolve_config_path(config: Path | None, environ: Mapping[str, str]) -> Path | None:
    """Return the TOML file to read, or None to use no file.

    An explicit ``config`` or ``$SPECKITD_CONFIG`` must exist; the default locations
    (``./speckitd.toml``, ``/etc/speckitd/speckitd.toml``) are used when they do.
    """
    from_env = environ.get(CONFIG_ENV, "")
    explicit = config if config is not None else (Path(from_env) if from_env else None)
    if explicit is not None:
        explicit = explicit.expanduser()
        origin = "" if config is not None else f" (${CONFIG_ENV})"
        if not explicit.exists():
            raise ConfigError(f"{explicit}: config file not found{origin}")
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: config path is not a file{origin}")
        return explicit
    return next((path for path in DEFAULT_CONFIG_PATHS if path.is_file()), None)


def load_settings(
    config: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from ``overrides``, the environment, credential files and TOML.

    ``environ`` defaults to ``os.environ``; it is where ``SPECKITD_*``,
    ``$SPECKITD_CONFIG`` and ``$CREDENTIALS_DIRECTORY`` are read. Raises
    :class:`~daemon.errors.ConfigError` with one line naming the file (or variable) and
    the key when anything is wrong.
    """
    environ = os.environ if environ is None else environ
    path = resolve_config_path(config, environ)
    credentials = environ.get(CREDENTIALS_ENV) or None
    init_kwargs = dict(overrides or {})
    labelled: list[tuple[str, PydanticBaseSettingsSource]] = [
        ("overrides", InitSettingsSource(Settings, init_kwargs=init_kwargs)),
        (_ENVIRONMENT, _EnvironSource(Settings, environ)),
    ]
    if credentials is not None and not Path(credentials).is_dir():
        raise ConfigError(f"{credentials}: not a directory (${CREDENTIALS_ENV})")
    try:
        if credentials is not None:
            secrets = NestedSecretsSettingsSource(
                SecretsSettingsSource(Settings, secrets_dir=credentials),
                secrets_dir_missing="error",
                secrets_prefix="",  # the default, env_prefix, would want SPECKITD_forge__...
                secrets_nested_delimiter=NESTED_DELIMITER,
            )
            labelled.append((_CREDENTIALS, secrets))
        if path is not None:
            labelled.append((str(path), _read_toml(path)))
        sources = (*(source for _, source in labelled), DefaultSettingsSource(Settings))
        # mypy sees only the field-derived __init__, not BaseSettings' _build_sources hook.
        build: Callable[..., Settings] = Settings
        return build(_build_sources=(sources, init_kwargs))
    except ValidationError as error:
        raise ConfigError(_describe(error, labelled, environ, credentials)) from None
    except SettingsError as error:
        raise ConfigError(_unparsable(str(error), environ, credentials)) from None


def _read_toml(path: Path) -> TomlConfigSettingsSource:
    """Read ``path`` into a TOML source, turning syntax and I/O errors into ConfigError."""
    try:
        return TomlConfigSettingsSource(Settings, toml_file=path)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(_toml_syntax(path, str(error))) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None


def _toml_syntax(path: Path, message: str) -> str:
    """``path:LINE: message`` from tomllib's ``message (at line N, column M)``."""
    position = _TOML_POSITION.search(message)
    if position is not None:
        text = message[: position.start()]
        return f"{path}:{position[1]}: {text} (column {position[2]})"
    if _TOML_AT_END.search(message) is not None:
        try:
            lines = max(1, len(path.read_bytes().splitlines()))
        except OSError:
            lines = 1
        return f"{path}:{lines}: {_TOML_AT_END.sub('', message)} (at end of file)"
    return f"{path}: {_one_line(message)}"


def _unparsable(message: str, environ: Mapping[str, str], credentials: str | None) -> str:
    """Name the variable or credential file whose value is not valid JSON for its key."""
    match = _UNPARSABLE.search(message)
    if match is None:
        return f"settings: {_one_line(message)}"
    field, source = match[1], match[2]
    label = _ENVIRONMENT if source == _EnvironSource.__name__ else _CREDENTIALS
    origin = _where(label, (field,), environ, credentials)
    return f"{origin}: {field}: cannot parse the value (a table or list needs JSON)"


def _describe(
    error: ValidationError,
    labelled: Sequence[tuple[str, PydanticBaseSettingsSource]],
    environ: Mapping[str, str],
    credentials: str | None,
) -> str:
    """One line for the first validation error: where it came from, the key, the problem.

    Only pydantic's message is used, never the input, so secrets are not echoed.
    """
    errors = error.errors(include_input=False, include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    states = [(label, source()) for label, source in labelled]
    origin = next(
        (
            _where(label, loc, environ, credentials)
            for depth in range(len(loc), 0, -1)
            for label, state in states
            if _has(state, loc[:depth])
        ),
        "settings",
    )
    return _one_line(f"{origin}: {_dotted(loc)}: {message}{more}")


def _has(state: object, loc: tuple[int | str, ...]) -> bool:
    """Whether nested dicts and lists ``state`` hold a value at ``loc``."""
    for part in loc:
        if isinstance(state, Mapping):
            if part not in state:
                return False
            state = state[part]
        elif isinstance(state, list) and isinstance(part, int) and part < len(state):
            state = state[part]
        else:
            return False
    return True


def _where(
    label: str, loc: tuple[int | str, ...], environ: Mapping[str, str], credentials: str | None
) -> str:
    """Refine a layer's label to the variable or credential file that set ``loc``."""
    if label == _ENVIRONMENT:
        return _named(loc, environ, ENV_PREFIX) or label
    if label == _CREDENTIALS and credentials is not None:
        directory = Path(credentials)
        name = _named(loc, [entry.name for entry in directory.iterdir()], "")
        return str(directory / name) if name else credentials
    return label


def _named(loc: tuple[int | str, ...], names: Iterable[str], prefix: str) -> str | None:
    """The name among ``names`` for ``loc`` or its nearest table (``PREFIX`` + ``a__b``)."""
    by_upper = {name.upper(): name for name in names}
    keys = [str(part) for part in takewhile(lambda part: isinstance(part, str), loc)]
    for depth in range(len(keys), 0, -1):
        found = by_upper.get((prefix + NESTED_DELIMITER.join(keys[:depth])).upper())
        if found is not None:
            return found
    return None


def _dotted(loc: tuple[int | str, ...]) -> str:
    """``("repos", 0, "name")`` as ``repos[0].name``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(settings)"


def _one_line(text: str) -> str:
    return " ".join(text.split())
