"""The ``[keys]`` table: refused with a precise message when it cannot work, shown as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Config, ConfigError
from app.dashboard import DashboardApp
from app.keymap import check_keymap, display
from tests.dashboard_data import Scene
from tests.feedkit import run_cli, until
from widgets.status_bar import StatusBar


@pytest.mark.parametrize(
    ("keymap", "message"),
    [
        ({"subscribe": "q"}, "[keys] subscribe: the key q would serve both subscribe and quit"),
        ({"subscrbe": "n"}, "[keys] 'subscrbe' is not a command; use one of subscribe, help"),
        ({"subscribe": "shift+^🍌"}, "'^🍌' is not a key name Textual knows"),
        ({"subscribe": "banana"}, "'banana' is not a key name Textual knows"),
        ({"freeze": "hyperdrive+x"}, "unknown modifier 'hyperdrive'"),
        ({"help": "?,"}, "[keys] help = '?,': an empty key"),
        ({"subscribe": "ctrl+p"}, "that key is the command palette"),
        ({"resync": "R"}, "the key R would serve both resync and reconnect"),
    ],
)
def test_a_keymap_that_cannot_work_is_refused_precisely(
    keymap: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_keymap(keymap, "config file x.toml")
    assert str(caught.value).startswith("config file x.toml: [keys]")
    assert message in str(caught.value)


def test_keymaps_that_work_are_accepted() -> None:
    check_keymap({})
    check_keymap({"subscribe": "ctrl+n,f2", "help": "?,f1", "depth-more": "plus,ctrl+up"})
    # Two commands may trade keys, and a freed key may be taken.
    check_keymap({"subscribe": "q", "quit": "ctrl+x"})
    check_keymap({"resync": "f5", "reconnect": "r"})  # x is the tape's


def test_keys_are_shown_as_a_person_reads_them() -> None:
    assert display("question_mark,ctrl+n") == "?,ctrl+n"
    assert display("plus") == "+"


def test_the_dashboard_refuses_a_bad_keymap() -> None:
    with pytest.raises(ConfigError, match="would serve both subscribe and quit"):
        DashboardApp(feed=Scene().feed, config=Config(keys={"subscribe": "q"}))


async def test_cli_a_bad_keymap_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[keys]\nsubscribe = "q"\n')
    code, _, err = await run_cli("--demo", "--config", str(config))
    assert code == 2
    assert f"config file {config}: [keys] subscribe: the key q would serve both" in err.decode()


async def test_labels_name_the_remapped_key() -> None:
    """The FROZEN mark says which key resumes, as remapped; the help shows it too."""
    scene = Scene(Config(keys={"freeze": "f9"}))
    async with scene.app.run_test(size=(120, 40)) as pilot:
        scene.connected()
        await pilot.press("f9")
        status = scene.app.dashboard.query_one(StatusBar)
        await until(lambda: "FROZEN (f9 resumes)" in str(status.render()), "the real key")
        assert ("f9", "Freeze / resume the display") in scene.app.help_rows()
