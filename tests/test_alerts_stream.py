"""``sordash stream`` with alerts: the real command against the real simulator evaluates the
dashboard's rules (the config's ``[[alerts]]`` and those the dialog kept in the alerts file,
mutes included) and prints a ``kind: "alert"`` line for each firing, once (hysteresis)."""

from __future__ import annotations

from pathlib import Path

from app.alerts import AlertEngine, PriceAlert, PriceField, alerts_file
from tests.feedkit import parse_lines, run_cli, running_sim, sim_credentials, stream_args


async def test_stream_prints_an_alert_line_for_config_and_kept_rules(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[[alerts]]\nkind = "price"\nmarket = "BTCUSD"\nfield = "bid"\nabove = "1"\n'
        '[[alerts]]\nkind = "spread"\nmarket = "BTCUSD"\nabove_bps = 10000\n'
    )
    kept = AlertEngine.open([], alerts_file())  # the test's state directory (conftest.py)
    assert kept.add(PriceAlert("BTCUSD", PriceField.ASK, above="1")) == "a1"
    kept.mute(kept.add(PriceAlert("BTCUSD", PriceField.MID, above="1")))  # a2, muted
    async with running_sim() as sim:
        code, out, err = await run_cli(
            *stream_args(sim, "--config", str(config), "--duration", "2", "--interval", "0.5"),
            env=sim_credentials(sim),
        )
    assert code == 0, err.decode()
    lines = [line for line in parse_lines(out) if line["kind"] == "alert"]
    alerts = {line["rule"]: line for line in lines}
    assert sorted(alerts) == ["a1", "c1"] and len(lines) == 2, (
        "each once; the spread never fires, a2 is muted"
    )
    bid = alerts["c1"]
    assert bid["alert"] == "price" and bid["market"] == "BTCUSD" and float(bid["value"]) > 1
    assert bid["message"] == f"BTCUSD bid {bid['value']}: crossed above 1"
    assert set(bid) == {"kind", "rule", "alert", "market", "value", "message"}
    assert alerts["a1"]["message"].startswith("BTCUSD ask ")
