"""`dabnet-zoo cards`: writes one card per registry entry; --check reports stale ones."""

from dabnet_zoo.cli.main import main
from dabnet_zoo.registry import WEIGHTS


def test_cards_writes_every_card_and_check_finds_stale_ones(tmp_path, capsys):
    out, root = tmp_path / "cards", tmp_path / "repo"  # root without results: nothing measured
    assert main(["cards", "--out", str(out), "--root", str(root)]) == 0
    assert f"Wrote {len(WEIGHTS)} model cards" in capsys.readouterr().out
    assert sorted(p.parent.name for p in out.glob("*/README.md")) == sorted(WEIGHTS)
    assert main(["cards", "--out", str(out), "--root", str(root), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
    card = out / "dabnet_r18_p4.camvid" / "README.md"
    card.write_text(card.read_text() + "hand edit\n")
    assert main(["cards", "--out", str(out), "--root", str(root), "--check"]) == 1
    assert f"stale: {out}/dabnet_r18_p4.camvid/README.md" in capsys.readouterr().out
    assert main(["cards", "--out", str(out), "--root", str(root), "--check", "--pattern", "dabnet_effb1*"]) == 0
    assert main(["cards", "--out", str(out), "--root", str(root), "--check", "--pattern", "*.camvid"]) == 1
    capsys.readouterr()
    assert main(["cards", "--out", str(out), "--root", str(root), "--pattern", "dabnet_r18_p4*"]) == 0
    assert "Wrote 4 model cards" in capsys.readouterr().out
    assert main(["cards", "--out", str(out), "--root", str(root), "--check"]) == 0
