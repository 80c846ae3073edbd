"""`whichmodel demo` runs bench → choose → report on the packaged data, and resumes."""

from __future__ import annotations

from whichmodel.bench.ledger import read_records
from whichmodel.cli import main
from whichmodel.cli.demo import demo_data_path


def test_demo_pipeline_and_rerun_skips(tmp_path, capsys):
    assert demo_data_path().is_file()
    args = ["demo", "--out", str(tmp_path), "--families", "tfidf", "--seeds", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    records = read_records(tmp_path / "demo.sqlite")
    assert len(records) == 3 and all(r.status == "ok" for r in records)  # 3 budgets
    assert {r.budget for r in records} == {"8/class", "24/class", "all"}
    accuracy = {r.budget: r.accuracy for r in records}
    assert min(accuracy.values()) > 0.4  # 6 classes: chance is 1/6 (measured 0.50 at 8/class)
    assert accuracy["all"] > accuracy["8/class"]  # more labels, better model
    html = (tmp_path / "report.html").read_text()
    assert "<img" in html and "tfidf" in html
    assert "Pareto frontier" in out
    # The paths and the next command are printed plainly: each line parses back whole.
    import shlex

    lines = out.splitlines()
    assert f"report: {tmp_path / 'report.html'}" in lines
    after = lines[lines.index(next(x for x in lines if x.startswith("next:"))) + 1:]
    command, words = [], []
    for line in after:
        continued = line.endswith(" \\")
        words += shlex.split(line[:-2] if continued else line)
        if not continued:
            command = words
            break
    assert command == ["whichmodel", "choose", str(tmp_path / "demo.sqlite"),
                       "--min-accuracy", "0.9", "--volume", "2e6"]

    stamps = {r.key: r.created_at for r in records}
    assert main(args) == 0  # rerun: nothing is trained again
    again = read_records(tmp_path / "demo.sqlite")
    assert {r.key: r.created_at for r in again} == stamps
