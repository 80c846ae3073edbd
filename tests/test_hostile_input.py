"""Hostile input: every entry point answers a bad file or value with one short line and
exit 2, promptly, instead of blocking, a traceback, gigabytes of output or "$inf".

The CLI cases run `whichmodel` in a subprocess with a timeout, so a regression (a read
that blocks on a FIFO, an alias bomb expanded in a message) fails the test instead of
hanging or exhausting the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from whichmodel.bench.spec import load_spec
from whichmodel.cli.choose import parse_volume
from whichmodel.cli.common import parse_settings
from whichmodel.costs import cost_of, load_prices, read_overrides
from whichmodel.costs.scenario import MAX_VOLUME_PER_MONTH, Scenario
from whichmodel.data import load_dataset
from whichmodel.errors import DataError, SettingError, SpecError, UsageError, quote
from whichmodel.models.setting_checks import check_number
from whichmodel.readers import csv_separator
from whichmodel.yaml_scalars import MAX_EXPANDED_NODES, YAMLLimitError, safe_load

pytestmark = pytest.mark.timeout(120)

SHORT = 2000  # characters of stderr a one-line error may take, at most


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """"Billion laughs": ``levels`` of anchors, each listing the previous one ``width``
    times; 9 × 9 is 9**9 ≈ 387 million strings from about 600 bytes."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def inline_bomb(levels: int = 6, width: int = 9) -> str:
    """The same on one line, for ``--set KEY=VALUE``."""
    parts = [f"&a0 [{','.join(['x'] * width)}]"]
    parts += [f"&a{i} [{','.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return f"[{', '.join(parts)}]"


def whichmodel(*args: str, timeout: float = 60, cwd: Path | None = None
               ) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process; fails the test if it does not end in time."""
    return subprocess.run([sys.executable, "-m", "whichmodel", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(result.stderr) < SHORT, len(result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    path.write_text("text,label\nwhere is my card,card\nrefund me,refund\n", encoding="utf-8")
    return path


def spec_text(train: Path, extra: str = "") -> str:
    return (f"dataset: {{train: {train}}}\n"
            "candidates: [{name: tfidf, family: tfidf}]\n" + extra)


# ---------------------------------------------------------------- YAML alias bombs


def test_safe_load_refuses_an_alias_bomb_cheaply() -> None:
    start = time.perf_counter()
    with pytest.raises(YAMLLimitError, match="expand it to more than 100,000 values"):
        safe_load(alias_bomb())
    assert time.perf_counter() - start < 5


def test_safe_load_keeps_ordinary_aliases_and_exponents() -> None:
    data = safe_load("base: &b {C: 1e5, lr: 5e-5}\none: *b\ntwo: {<<: *b, C: 3}\n")
    assert data["one"] == {"C": 100000, "lr": 5e-5}
    assert data["two"] == {"C": 3, "lr": 5e-5}
    # Just under the limit is fine: the count is of values, not of bytes.
    width = int((MAX_EXPANDED_NODES - 2) ** 0.5) - 1
    assert len(safe_load(alias_bomb(levels=2, width=width))["a1"]) == width


def test_safe_load_refuses_recursion_depth_and_size() -> None:
    with pytest.raises(YAMLLimitError, match="refers to a value that contains it"):
        safe_load("a: &x [1, *x]\n")
    with pytest.raises(YAMLLimitError, match="nested too deeply"):
        safe_load("[" * 20000 + "]" * 20000)
    with pytest.raises(YAMLLimitError, match="characters is more than"):
        safe_load("# padding\n" * 500_000)
    with pytest.raises(YAMLLimitError, match="cannot be read"):
        safe_load("n: " + "9" * 5000)  # Python refuses int() of over 4300 digits


def test_alias_bomb_spec_through_bench_is_one_short_line(tmp_path: Path, tiny_csv: Path) -> None:
    spec = tmp_path / "bomb.yaml"
    spec.write_text(alias_bomb() + spec_text(tiny_csv, "seeds: *a8\n"), encoding="utf-8")
    assert spec.stat().st_size < 1000
    start = time.perf_counter()
    result = whichmodel("bench", spec, "--quiet")
    assert time.perf_counter() - start < 30
    assert_one_line_error(result, "bomb.yaml: aliases (*name) expand it to more than")


def test_alias_bomb_in_set_is_one_short_line(tmp_path: Path, tiny_csv: Path) -> None:
    result = whichmodel("train", tiny_csv, "--text", "text", "--label", "label",
                        "--model", "tfidf", "--set", f"C={inline_bomb()}",
                        "--out", tmp_path / "model")
    assert_one_line_error(result, "--set 'C': aliases (*name) expand it")
    assert not (tmp_path / "model").exists()


def test_alias_bomb_in_prices_file_is_one_short_line(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(alias_bomb() + "usd_per_label: *a8\n", encoding="utf-8")
    result = whichmodel("choose", tmp_path / "runs.sqlite", "--volume", "1e6",
                        "--prices", prices)
    assert_one_line_error(result, "prices.yaml: aliases (*name) expand it")


def test_set_value_that_is_not_yaml_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"--set 'C': cannot read the value '\[1, 2'"):
        parse_settings(["C=[1, 2"])


# ------------------------------------------------------------ bounded quoting


def test_quote_is_bounded_in_output_and_work() -> None:
    assert quote("text") == "'text'"
    long = quote("x" * 5_000_000)
    assert long.endswith("… (5,000,000 chars)") and len(long) < 120
    assert quote(b"\x00" * 1000).endswith("(1,000 bytes)")
    shared: list = ["lol"] * 9
    for _ in range(9):  # 9**10 leaves through shared references; repr() would not end
        shared = [shared] * 9
    start = time.perf_counter()
    assert len(quote(shared)) <= 81
    assert time.perf_counter() - start < 1
    assert quote(10**5000) == "<a int too large to print>"


def test_spec_errors_quote_values_shortly(tmp_path: Path, tiny_csv: Path) -> None:
    spec = tmp_path / "spec.yaml"
    for extra in (f"budgets: [{'x' * 100_000}]\n",
                  f"dataset: {{train: {tiny_csv}, test_size: {'y' * 100_000}}}\n",
                  f"scenario: {{metric: {'z' * 100_000}}}\n"):
        text = spec_text(tiny_csv, extra)
        if extra.startswith("dataset"):
            text = extra + "candidates: [{name: tfidf, family: tfidf}]\n"
        spec.write_text(text, encoding="utf-8")
        with pytest.raises(SpecError) as err:
            load_spec(spec)
        assert len(str(err.value)) < 500 and "100,000 chars" in str(err.value)


def test_setting_and_price_errors_quote_values_shortly() -> None:
    with pytest.raises(SettingError) as err:
        check_number("tfidf", "C", "c" * 100_000, above=0)
    assert len(str(err.value)) < 300
    with pytest.raises(SpecError) as err:
        load_prices({"usd_per_label": "u" * 100_000})
    assert len(str(err.value)) < 300
    with pytest.raises(UsageError) as err:
        parse_settings(["k" * 100_000])
    assert len(str(err.value)) < 300


# ------------------------------------------------- paths that are not regular files


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "input.csv"
    os.mkfifo(path)  # no writer: opening it for reading would block forever
    return path


@pytest.fixture
def symlink_loop(tmp_path: Path) -> Path:
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    return tmp_path / "a.csv"


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_data_that_is_not_a_file_is_refused_promptly(tmp_path: Path, fifo: Path,
                                                     kind: str) -> None:
    source = fifo if kind == "fifo" else Path("/dev/zero")
    what = "a FIFO" if kind == "fifo" else "a character device"
    with pytest.raises(DataError, match=rf"is not a regular file \({what}\); give a file"):
        load_dataset(source, "text", "label")
    result = whichmodel("train", source, "--text", "text", "--label", "label",
                        "--model", "tfidf", "--out", tmp_path / "model")
    assert_one_line_error(result, what)


def test_spec_and_prices_that_are_not_files_are_refused_promptly(tmp_path: Path) -> None:
    spec_fifo = tmp_path / "spec.yaml"
    os.mkfifo(spec_fifo)
    assert_one_line_error(whichmodel("bench", spec_fifo), "spec file", "(a FIFO)")
    assert_one_line_error(whichmodel("bench", "/dev/zero"), "(a character device)")
    prices_fifo = tmp_path / "prices.yaml"
    os.mkfifo(prices_fifo)
    for prices in (prices_fifo, "/dev/urandom"):
        result = whichmodel("choose", tmp_path / "runs.sqlite", "--volume", "1e6",
                            "--prices", prices)
        assert_one_line_error(result, "prices file", "is not a regular file")


def test_symlink_loops_are_one_line(tmp_path: Path, symlink_loop: Path,
                                    tiny_csv: Path) -> None:
    with pytest.raises(DataError, match="is a symlink loop"):
        load_dataset(symlink_loop, "text", "label")
    with pytest.raises(SpecError, match="spec file .* is a symlink loop"):
        load_spec(symlink_loop)
    with pytest.raises(SpecError, match="prices file .* is a symlink loop"):
        read_overrides(symlink_loop)
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(symlink_loop), encoding="utf-8")
    with pytest.raises(SpecError, match=r"dataset\.train: .*a\.csv is a symlink loop"):
        load_spec(spec)
    assert_one_line_error(whichmodel("bench", spec), "symlink loop")


def test_spec_and_prices_not_utf8_or_too_big(tmp_path: Path, tiny_csv: Path) -> None:
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes(spec_text(tiny_csv, "# café\n").encode("latin-1"))
    with pytest.raises(SpecError, match=r"latin1.yaml is not valid UTF-8: line 3"):
        load_spec(spec)
    assert_one_line_error(whichmodel("bench", spec), "not valid UTF-8")
    with pytest.raises(SpecError, match="is not valid UTF-8"):
        read_overrides(spec)
    huge = tmp_path / "huge.yaml"
    huge.write_text(spec_text(tiny_csv) + "# padding\n" * 600_000, encoding="utf-8")
    with pytest.raises(SpecError, match="is over 4,194,304 bytes"):
        load_spec(huge)


# ------------------------------------------------------------------ absurd numbers


_VOLUME = r"scenario.volume_per_month: must be more than 0 items a month .*got "
_HORIZON = r"scenario.horizon_months: must be more than 0 and at most 1200 months .*got "


@pytest.mark.parametrize(("scenario", "message"), [
    ("{volume_per_month: .inf}", _VOLUME + "inf"),
    ("{volume_per_month: 1e308}", _VOLUME + r"1e\+308"),
    ("{volume_per_month: .nan}", _VOLUME + "nan"),
    ("{horizon_months: .inf}", _HORIZON + "inf"),
    ("{horizon_months: 1e6}", _HORIZON + "1000000"),
])
def test_spec_refuses_absurd_scenarios_up_front(tmp_path: Path, tiny_csv: Path,
                                                scenario: str, message: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(tiny_csv, f"scenario: {scenario}\n"), encoding="utf-8")
    with pytest.raises(SpecError, match=message):
        load_spec(spec)


def test_library_scenario_is_checked_too() -> None:
    for bad in ({"volume_per_month": float("inf")}, {"volume_per_month": 1e308},
                {"volume_per_month": float("nan")}, {"horizon_months": float("inf")},
                {"volume_per_month": "5e6"}):
        with pytest.raises(UsageError):
            Scenario(**bad)
    scenario = Scenario()
    scenario.volume_per_month = float("inf")  # reassigned after the check on creation
    with pytest.raises(UsageError, match="volume_per_month must be more than 0 items a month"):
        cost_of(_choice(), scenario, load_prices())


def test_choose_volume_and_horizon_bounds() -> None:
    assert parse_volume("5e6", None) == 5e6
    assert parse_volume("1e15", None) == MAX_VOLUME_PER_MONTH
    for text in ("1e400", "1e308", "1e14/day", "9" * 400):
        result = whichmodel("choose", "runs.sqlite", "--volume", text)
        assert_one_line_error(result, "--volume must be more than 0 items a month")
    result = whichmodel("choose", "runs.sqlite", "--volume", "1e6", "--horizon-months", "inf")
    assert_one_line_error(result, "--horizon-months must be more than 0 and at most 1200")


def _choice(**overrides: object) -> SimpleNamespace:
    fields = {"candidate": "tfidf", "budget": "all", "family": "tfidf", "n_labels": 100,
              "train_seconds": 1.0, "throughput_items_per_s": 1000.0, "api_model": None}
    return SimpleNamespace(**{**fields, **overrides})


def test_prices_out_of_range_are_refused_never_inf() -> None:
    for overrides, message in (
            ({"usd_per_label": 1e308}, r"prices.usd_per_label: must be <= 1e\+06"),
            ({"usd_per_label": float("inf")}, "prices.usd_per_label: must be a finite number"),
            ({"hardware": {"t4": {"usd_per_hour": 1e308}}}, "usd_per_hour: must be <="),
            ({"hardware": {"t4": {"speed_factor": 1e300}}}, "speed_factor: must be <="),
            ({"llm_api": {"x": {"usd_per_million_input_tokens": 1e308,
                                "usd_per_million_output_tokens": 1, "source": "s"}}},
             "usd_per_million_input_tokens: must be <=")):
        with pytest.raises(SpecError, match=message):
            load_prices(overrides)
    # Finite but absurd measurements still cannot become "$inf".
    with pytest.raises(DataError, match="is not a finite number"):
        cost_of(_choice(throughput_items_per_s=1e-300), Scenario(volume_per_month=1e15),
                load_prices())
    with pytest.raises(DataError, match=r"the cost of tfidf @ all is not a finite number "
                                        r"\(annotation 11.6, training inf"):
        cost_of(_choice(train_seconds=1e308), Scenario(),
                load_prices({"hardware": {"cpu-small": {"usd_per_hour": 1e6}}}))


def test_spec_price_override_of_1e308_is_one_line(tmp_path: Path, tiny_csv: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(tiny_csv, "prices: {usd_per_label: 1e308}\n"), encoding="utf-8")
    assert_one_line_error(whichmodel("bench", spec), "prices.usd_per_label: must be <=")


# -------------------------------------------------------------------- data reading


def test_parquet_binary_text_and_struct_labels_are_refused(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    binary = tmp_path / "binary.parquet"
    pq.write_table(pa.table({"text": [b"hello", b"bye"], "label": ["a", "b"]}), binary)
    with pytest.raises(DataError, match=r"row 1 of .*binary.parquet, column 'text': bytes "
                                        r"\(b'hello'\), not a text .*decode it"):
        load_dataset(binary, "text", "label")
    struct = tmp_path / "struct.parquet"
    pq.write_table(pa.table({"text": ["hello", "bye"], "label": [{"a": 0}, {"a": 1}]}), struct)
    with pytest.raises(DataError, match=r"row 1 of .*, column 'label': a mapping "
                                        r"\(\{'a': 0\}\), not a label"):
        load_dataset(struct, "text", "label")
    # Lists stay multi-label labels, and a binary column nobody reads stops nothing.
    fine = tmp_path / "fine.parquet"
    pq.write_table(pa.table({"text": ["hello", "bye"], "label": [["a"], ["a", "b"]],
                             "image": [b"\x89PNG", b"\x89PNG"]}), fine)
    ds = load_dataset(fine, "text", "label")
    assert ds.multi_label and ds.labels == [["a"], ["a", "b"]]


def test_json_mapping_cells_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "hi", "label": "a"}\n{"text": {"en": "yo"}, "label": "b"}\n',
                    encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2 of .*column 'text': a mapping"):
        load_dataset(path, "text", "label")
    with pytest.raises(DataError, match=r"row 2 of .*column 'text': a mapping"):
        load_dataset(path, "{text}!", "label")  # templates read the same cells
    path.write_text('{"text": "hi", "label": [{"x": 1}]}\n', encoding="utf-8")
    with pytest.raises(DataError, match="a list of non-text values"):
        load_dataset(path, "text", "label")


def test_semicolon_separated_csv_is_read_with_its_delimiter(tmp_path: Path,
                                                            banking77: Path) -> None:
    import pandas as pd

    rows = pd.read_csv(banking77 / "train.csv").head(40)
    assert rows["text"].str.contains(",").any()  # commas inside texts: a real test
    path = tmp_path / "excel.csv"
    rows.to_csv(path, sep=";", index=False)
    ds = load_dataset(path, "text", "category")
    assert ds.texts == rows["text"].tolist()
    assert ds.labels == rows["category"].tolist()
    assert csv_separator(path) == ";"


def test_tab_and_pipe_in_a_csv_and_an_unsure_case(tmp_path: Path) -> None:
    for sep in ("\t", "|"):
        path = tmp_path / "data.csv"
        path.write_text(f"text{sep}label\nhello, you{sep}a\nbye{sep}b\n", encoding="utf-8")
        assert load_dataset(path, "text", "label").texts == ["hello, you", "bye"]
    path.write_text("text;label\nhello\nbye\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"seems to be semicolon-separated \(';'\)"):
        load_dataset(path, "text", "label")
    path.write_text("text\nhello; there\n", encoding="utf-8")  # one column, ';' in a row
    assert load_dataset(path, "text").texts == ["hello; there"]


def test_column_suggestion_prefers_the_field_and_never_the_other_column(
        tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("text,label\nhi,a\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"column 'intent' not found .*"
                                        r"\(did you mean 'label'\?\)"):
        load_dataset(path, "text", "intent")
    with pytest.raises(DataError, match=r"\(did you mean 'label'\?\)"):
        load_dataset(path, "text", "txt")  # close to 'text', but that is the text
    with pytest.raises(DataError, match=r"column 'sentence' .*\(did you mean 'text'\?\)"):
        load_dataset(path, "sentence", "label")
    with pytest.raises(DataError) as err:
        load_dataset(path, "lable", "label")  # close to 'label', which --label uses
    assert "did you mean 'label'" not in str(err.value)


def test_empty_label_separator_is_one_line(tmp_path: Path, tiny_csv: Path) -> None:
    with pytest.raises(DataError, match="label separator .* is empty"):
        load_dataset(tiny_csv, "text", "label", label_sep="")
    result = whichmodel("train", tiny_csv, "--text", "text", "--label", "label",
                        "--label-sep", "", "--model", "tfidf", "--out", tmp_path / "model")
    assert_one_line_error(result, "label separator")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"dataset": {"train": str(tiny_csv), "label_sep": ""},
                                    "candidates": [{"name": "t", "family": "tfidf"}]}),
                    encoding="utf-8")
    with pytest.raises(SpecError, match=r"dataset\.label_sep: String should have at least"):
        load_spec(spec)
