"""`reer eval` on the sample's warehouse."""


def test_reer_eval_names_an_unknown_system_in_one_line(sample_account, monkeypatch, capsys):
    from reer_pipeline.cli import main

    monkeypatch.setenv("REER_DATA_DIR", str(sample_account.layout.root))
    assert main(["eval", "--system", "nonsense"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("reer eval: unknown system 'nonsense'") and "\n" not in err
    assert "manager_worker" in err and "model URI" in err
