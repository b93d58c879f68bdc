"""Config file and credentials: clear errors naming the file, secrets kept private."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from app.alerts import PriceAlert, PriceField, StaleAlert
from app.cli import logs_off_the_screen
from app.cli import main as cli_main
from app.config import (
    Config,
    ConfigError,
    credentials_from,
    default_config_path,
    endpoints_for,
    load_config,
)
from app.tape import TapeSettings


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_reads_every_section(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
env = "production"
markets = ["LTCUSD"]
[credentials]
client_id = "abc"
client_secret = "xyz"
[dashboard]
refresh_hz = 20
depth = 8
[keys]
subscribe = "ctrl+n"
""",
    )
    config = load_config(path)
    assert config.env == "production" and config.markets == ["LTCUSD"]
    assert config.dashboard.refresh_hz == 20 and config.dashboard.depth == 8
    assert config.keys == {"subscribe": "ctrl+n"}
    creds = credentials_from(config, environ={})
    assert creds is not None and creds.client_id == "abc"
    assert "xyz" not in repr(config) and "xyz" not in repr(creds)


def test_missing_default_file_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SORDASH_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_config_path() == tmp_path / "sordash" / "config.toml"
    assert load_config() == Config()


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    path = write(tmp_path, "env = 'sandbox'\n")
    path.chmod(0o000)
    if os.geteuid() == 0:  # root reads anything: make it a directory instead
        path.unlink()
        path.mkdir()
    with pytest.raises(ConfigError, match=f"cannot read config file {path}"):
        load_config(path)


def test_not_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "this is = = not toml")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(path)


def test_wrong_shape_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, "[dashboard]\ndepth = 'deep'\n")
    with pytest.raises(ConfigError, match=r"dashboard\.depth"):
        load_config(path)
    path = write(tmp_path, "colour = 'red'\n")
    with pytest.raises(ConfigError, match="colour"):
        load_config(path)


def test_secret_in_a_world_readable_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[credentials]\nclient_id='a'\nclient_secret='hunter2'\n", 0o644)
    with pytest.raises(ConfigError, match="chmod 600") as info:
        load_config(path)
    assert "hunter2" not in str(info.value)


def test_environment_wins_over_file() -> None:
    config = Config()
    config.credentials.client_id = "file-id"
    config.credentials.client_secret = "file-secret"
    creds = credentials_from(
        config, environ={"PAXOS_CLIENT_ID": "env-id", "PAXOS_CLIENT_SECRET": "env-secret"}
    )
    assert creds is not None and creds.client_id == "env-id"
    assert credentials_from(Config(), environ={}) is None


def test_endpoints() -> None:
    assert endpoints_for(Config(), "production") == (
        "https://oauth.paxos.com/oauth2/token",
        "wss://ws.paxos.com/",
    )
    assert endpoints_for(Config())[1] == "wss://ws.sandbox.paxos.com/"
    with pytest.raises(ConfigError, match="unknown environment"):
        endpoints_for(Config(), "staging")


def test_dashboard_logging_never_reaches_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A warning while the dashboard owns the terminal would be drawn over its screen."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs_off_the_screen(None)
        logging.getLogger("app.auth").warning("token endpoint unreachable; retrying")
        assert capfd.readouterr().err == ""
        log_file = tmp_path / "sordash.log"
        logs_off_the_screen(log_file)
        logging.getLogger("app.auth").warning("token endpoint unreachable; retrying")
        assert capfd.readouterr().err == ""
        assert "WARNING app.auth: token endpoint unreachable" in log_file.read_text()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = saved


def test_an_unwritable_log_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-dir" / "sordash.log"
    assert cli_main(["--demo", "--log-file", str(missing)]) == 2
    assert f"cannot write the log file {missing}" in capsys.readouterr().err


def test_tape_size_sets_the_trades_kept_per_market(tmp_path: Path) -> None:
    """``[dashboard] tape_size`` was read and never used: it bounds every market's tape."""
    from app.protocol import Execution, decode_frame
    from app.session import Session, SessionOptions

    config = load_config(write(tmp_path, "[dashboard]\ntape_size = 3\n"))
    session = Session.create(SessionOptions(demo=True), config)
    for n in range(5):
        frame = (
            '{"channel":"execution_data","payload":{"market":"BTCUSD","price":"1",'
            f'"amount":"1","executed_at":"2024-01-15T10:30:0{n}Z"}}}}'
        )
        execution = decode_frame(frame.encode())
        assert isinstance(execution, Execution)
        session.feed.tape.add(execution)
    tape = session.feed.tape.get("BTCUSD")
    assert tape is not None and len(tape.trades) == 3
    with pytest.raises(ConfigError, match="tape_size must be positive"):
        load_config(write(tmp_path, "[dashboard]\ntape_size = 0\n"))


def test_the_theme_comes_from_the_dashboard_table(tmp_path: Path) -> None:
    from styles.themes import check_theme

    config = load_config(write(tmp_path, '[dashboard]\ntheme = "sordash-high-contrast"\n'))
    assert config.dashboard.theme == "sordash-high-contrast"
    check_theme(config.dashboard.theme)  # one of the themes there are: no error
    assert load_config(write(tmp_path, "env = 'sandbox'\n")).dashboard.theme == "textual-dark"


def test_an_unknown_theme_is_refused_naming_the_file_the_value_and_the_themes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[dashboard]\ntheme = "sordash-lite"\n')
    assert cli_main(["--demo", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"config file {path}: [dashboard] theme 'sordash-lite' is not a theme" in err
    assert "sordash-light" in err and "sordash-high-contrast" in err and "nord" in err


def test_an_unknown_theme_on_the_command_line_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[dashboard]\ntheme = "sordash-light"\n')
    assert cli_main(["--demo", "--config", str(path), "--theme", "solarised"]) == 2
    err = capsys.readouterr().err
    assert "--theme 'solarised' is not a theme; use one of" in err and "solarized-dark" in err


def test_the_app_refuses_an_unknown_theme_too() -> None:
    """A config built in code (tests, screenshots) is checked as the file's is."""
    from app.config import DashboardConfig
    from app.dashboard import DashboardApp
    from app.feed import FeedClient

    with pytest.raises(
        ConfigError, match=r"theme 'dark' is not a theme; use one of .*textual-dark"
    ):
        DashboardApp(feed=FeedClient(), config=Config(dashboard=DashboardConfig(theme="dark")))


# --------------------------------------------------------------------------- [sizes], [bands]


def test_sizes_and_bands_are_read(tmp_path: Path) -> None:
    from app.fills import FillSize

    path = write(
        tmp_path,
        """
[sizes]
BTCUSD = ["0.5", "5"]
ETHUSD = [10]
notional = ["10000", "250000.50"]
[bands]
bps = [25, 5]
""",
    )
    config = load_config(path)
    assert config.fill_sizes("BTCUSD") == [
        FillSize.base("0.5"),
        FillSize.base("5"),
        FillSize.notional("10000"),
        FillSize.notional("250000.50"),
    ]
    assert config.fill_sizes("ETHUSD")[0] == FillSize.base("10")  # a whole number is exact
    assert config.fill_sizes("LTCUSD") == [
        FillSize.notional("10000"),
        FillSize.notional("250000.50"),
    ]
    assert config.bands.bps == [25, 5]


def test_without_the_sections_no_sizes_and_the_default_bands() -> None:
    assert Config().fill_sizes("BTCUSD") == [] and Config().bands.bps == [10, 50, 100]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "BTCUSD = [0.5]",
            r"\[sizes\] BTCUSD: 0\.5 is a TOML float, which is not exact; "
            r'write it as a string: "0\.5"',
        ),
        ('BTCUSD = ["0.5", "half"]', r"\[sizes\] BTCUSD: not a non-negative decimal: 'half'"),
        ('notional = ["0"]', r"\[sizes\] notional: '0' is not a size: it must be more than zero"),
        ("notional = [-100]", r"\[sizes\] notional: not a non-negative decimal: '-100'"),
        ('ETHUSD = ["1e3"]', r"\[sizes\] ETHUSD: not a non-negative decimal: '1e3'"),
        ('btcusd = ["1"]', r"\[sizes\] btcusd: not a market name .*e\.g\. BTCUSD"),
        ('BTCUSD = "1"', r"\[sizes\] BTCUSD: '1' is not a list of sizes; write e\.g\. BTCUSD = \["),
        ("BTCUSD = [true]", r"\[sizes\] BTCUSD: True is not a size; write decimals as strings"),
        ("[sizes.ETHUSD]\nsmall = '1'", r"\[sizes\] ETHUSD: \{'small': '1'\} is not a list"),
    ],
)
def test_a_bad_size_is_refused_naming_the_file_key_and_value(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, f"[sizes]\n{text}\n")
    with pytest.raises(ConfigError, match=f"config file {path}: .*{message}"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bps = []", r"\[bands\] bps: name at least one band"),
        (
            "bps = [10, 0]",
            r"\[bands\] bps: 0 is not a band; use whole basis points from 1 to 10000",
        ),
        ("bps = [20000]", r"\[bands\] bps: 20000 is not a band"),
        ("bps = [10, 50, 10]", r"\[bands\] bps: 10 given more than once"),
        ("bps = [2.5]", r"bands\.bps\[0\]"),
        ("width = [10]", r"width"),
    ],
)
def test_bad_bands_are_refused_naming_the_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, f"[bands]\n{text}\n")
    with pytest.raises(ConfigError, match=f"config file {path}: .*{message}"):
        load_config(path)


def test_a_config_built_in_code_is_checked_when_its_sizes_are_read() -> None:
    with pytest.raises(ConfigError, match=r"\[sizes\] BTCUSD: not a non-negative decimal: 'lots'"):
        Config(sizes={"BTCUSD": ["lots"]}).fill_sizes("BTCUSD")


def test_the_tape_section_sets_each_markets_start_and_refuses_what_is_no_size(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        '[tape]\nmin_size = ".5"\naggregate = true\n'
        '[tape.min_sizes]\nETHUSD = "10"\nLTCUSD = "0"\n',
    )
    tape = load_config(path).tape
    assert tape.settings_for("BTCUSD") == TapeSettings("0.5", True)
    assert tape.settings_for("ETHUSD") == TapeSettings("10", True)
    assert tape.settings_for("LTCUSD") == TapeSettings("", True)  # zero: every trade
    assert load_config(write(tmp_path, "")).tape.settings_for("BTCUSD") == TapeSettings()
    bad = write(tmp_path, '[tape]\nmin_sizes = { ETHUSD = "-1" }\n')
    with pytest.raises(ConfigError, match=r"\[tape\] min_sizes.ETHUSD: '-1' is not a size"):
        load_config(bad)


# --------------------------------------------------------------------------- [[alerts]]


def test_the_documented_example_is_a_config_that_loads(tmp_path: Path) -> None:
    import app.config

    doc = app.config.__doc__ or ""
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    config = load_config(write(tmp_path, example))
    assert config.dashboard.alert_bell is True
    assert [rule.describe() for rule in config.alert_rules()] == [
        "BTCUSD bid above 65000",
        "ETHUSD spread above 5 bps",
        "every market: book not live for 10 s",
        "BTCUSD trade of 5 or more",
        "BTCUSD imbalance beyond 0.6 (either side, 10 bps)",
        "feed disconnected for 5 s",
    ]


def test_alerts_are_read_in_order_and_the_bell_can_be_turned_off(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[dashboard]
alert_bell = false

[[alerts]]
kind = "price"
market = "ETHUSD"
field = "mid"
crosses = 3000
rearm_bps = 2.5

[[alerts]]
kind = "stale"
market = "*"
seconds = 2.5
""",
    )
    config = load_config(path)
    assert config.dashboard.alert_bell is False
    assert config.alert_rules() == [
        PriceAlert("ETHUSD", PriceField.MID, crosses="3000", rearm_bps=2.5),
        StaleAlert("*", 2.5),
    ]
    assert Config().alert_rules() == [] and Config().dashboard.alert_bell is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'kind = "price"\nmarket = "BTCUSD"\nfield = "bid"\nabove = 65000.5',
            r"#1 \(price BTCUSD\): above = 65000\.5 is a TOML float, which is "
            r'not exact; write it as a string: above = "65000\.5"',
        ),
        (
            'kind = "price"\nmarket = "BTCUSD"\nfield = "close"\nabove = "1"',
            r"#1 \(price BTCUSD\): field = 'close': use one of bid, ask, mid, last",
        ),
        (
            'kind = "spread"\nmarket = "ETHUSD"\nabove = 5',
            r"#1 \(spread ETHUSD\): above: not a key of a spread alert; it takes market, "
            r"above_bps, rearm_bps",
        ),
        (
            'kind = "spread"\nmarket = "ETHUSD"\nabove_bps = -5',
            r"#1 \(spread ETHUSD\): above_bps = -5\.0: must be more than 0",
        ),
        ('kind = "stale"\nmarket = "*"', r"#1 \(stale \*\): a stale alert needs seconds"),
        (
            'kind = "trade"\nmarket = "*"\nsize = "5"',
            r'#1 \(trade \*\): market = "\*": this kind needs one market',
        ),
        (
            'kind = "imbalance"\nmarket = "BTCUSD"\nbeyond = 60',
            r"#1 \(imbalance BTCUSD\): beyond = 60\.0: must be more than 0 and at most 1",
        ),
        ('kind = "beep"', r"#1 \(beep\): kind = 'beep' is not an alert kind; use one of price"),
        ("seconds = 5", r"#1: no kind; use one of price, spread"),
    ],
)
def test_a_bad_alert_is_refused_naming_the_file_entry_key_and_value(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(
        tmp_path, f'[[alerts]]\nkind = "disconnected"\nseconds = 5\n\n[[alerts]]\n{text}\n'
    )
    where = rf"config file {path}: \[\[alerts\]\] "
    with pytest.raises(ConfigError, match=where + message.replace("#1", "#2", 1)):
        load_config(path)


def test_alerts_that_are_not_tables_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, 'alerts = ["BTCUSD above 65000"]\n')
    with pytest.raises(ConfigError, match=r"\[\[alerts\]\] #1: 'BTCUSD above 65000' is not a"):
        load_config(path)


def test_a_config_built_in_code_is_checked_when_its_alerts_are_read() -> None:
    with pytest.raises(ConfigError, match=r"#1 \(trade BTCUSD\): size = 'lots': not a"):
        Config(alerts=[{"kind": "trade", "market": "BTCUSD", "size": "lots"}]).alert_rules()


def test_the_ladder_table_sets_every_ladders_columns_and_mode(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[ladder]\ncolumns = ["notional", "volume"]\n'))
    assert config.ladder.columns == ["notional", "volume"] and config.ladder.mode == "list"
    assert load_config(write(tmp_path, '[ladder]\nmode = "fixed"\n')).ladder.mode == "fixed"
    assert load_config(write(tmp_path, "env = 'sandbox'\n")).ladder.columns == ["cumulative"]
    assert load_config(write(tmp_path, "[ladder]\ncolumns = []\n")).ladder.columns == []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            '[ladder]\ncolumns = ["cumulative", "depth"]\n',
            "[ladder] columns: unknown column 'depth'; "
            "the columns are cumulative, notional, volume",
        ),
        ('[ladder]\ncolumns = ["volume", "volume"]\n', "[ladder] columns: a column is named twice"),
        ('[ladder]\ncolumns = "volume"\n', "Expected `array`, got `str` - at `$.ladder.columns`"),
        ("[ladder]\nrows = 3\n", "unknown field `rows` - at `$.ladder`"),
        ('[ladder]\nmode = "static"\n', '[ladder] mode: \'static\' is not "list" or "fixed"'),
    ],
    ids=["unknown-column", "twice", "not-a-list", "unknown-key", "mode"],
)
def test_a_bad_ladder_table_is_refused_naming_the_key(
    tmp_path: Path, table: str, message: str
) -> None:
    path = write(tmp_path, table)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"config file {path}: ")
    assert message in str(error.value)


def test_the_app_refuses_a_bad_ladder_table_too() -> None:
    from app.config import LadderConfig
    from app.dashboard import DashboardApp
    from app.feed import FeedClient

    with pytest.raises(ConfigError, match=r"\[ladder\] columns: unknown column 'bars'"):
        DashboardApp(feed=FeedClient(), config=Config(ladder=LadderConfig(columns=["bars"])))
