"""The ``spark-als`` factorizer on a local Spark (``local[2]``, one session for the whole test
run): the factors pmf returns, intervals, reading CSV / CSV.gz / Parquet through Spark, and
one clear line (exit 2, store untouched) for a missing Java, an unreachable master or a Spark
failure in the middle of a fit.

Runs wherever pyspark and a Java runtime are installed (CI installs both: ``.ci/run``);
elsewhere every test here is skipped, saying which is missing.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from fennec_core import Fennec
from fennec_core.errors import FennecError, InputError
from fennec_core.io.tables import write_history

spark_als = pytest.importorskip("fennec_plugins.factorizers.spark_als")


def _why_not() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'fennec[spark]')"
    if importlib.util.find_spec("pyarrow") is None:
        return "pyarrow is not installed (pip install 'fennec[spark]')"
    if not spark_als.java_available():
        return "no Java runtime (JAVA_HOME or java on PATH); install openjdk-17-jre-headless"
    return None


pytestmark = [pytest.mark.spark, pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))]


@pytest.fixture(scope="session")
def spark():
    """One local[2] Spark session for every test of the run (started once: about 10 s), stopped after."""
    session = spark_als.spark_session("local[2]")
    yield session
    session.stop()


def _tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + f.read_bytes())
    return h.hexdigest()


def test_factors_like_pmf_and_seeded(spark, small_history):
    """U (m, k+2) = [w, b, 1], V (n, k+2) = [x, 1, c], per-row covariances over the free
    coordinates only, positive noise; the same seed gives the same numbers."""
    rows, cols, vals = small_history.rows, small_history.cols, small_history.values
    fz = spark_als.SparkALS(2, reg=0.1, seed=3)
    f1 = fz.fit_cells(rows, cols, vals, small_history.shape)
    f2 = spark_als.SparkALS(2, reg=0.1, seed=3).fit_cells(rows, cols, vals, small_history.shape)
    m, n = small_history.shape
    assert f1.U.shape == (m, 4) and f1.V.shape == (n, 4)
    np.testing.assert_array_equal(f1.U[:, 3], 1.0)
    np.testing.assert_array_equal(f1.V[:, 2], 1.0)
    assert f1.extras["U_cov"].shape == (m, 4, 4) and f1.extras["V_cov"].shape == (n, 4, 4)
    np.testing.assert_array_equal(f1.extras["U_cov"][:, 3], 0.0)  # the constant coordinate is known
    assert (np.linalg.eigvalsh(f1.extras["U_cov"][:, :3, :3]) > 0).all()
    assert f1.extras["noise_var"][0] > 0 and f1.info["rmse"] < 0.05
    np.testing.assert_array_equal(f1.U, f2.U)
    np.testing.assert_array_equal(f1.extras["V_cov"], f2.extras["V_cov"])


def test_reg_auto_picks_a_candidate_on_held_out_cells(spark, small_history):
    fz = spark_als.SparkALS(2)
    f = fz.fit_cells(small_history.rows, small_history.cols, small_history.values, small_history.shape)
    scores = f.info["reg_heldout_rmse"]
    assert set(scores) == {str(r) for r in spark_als.REG_CANDIDATES}
    best = min(spark_als.REG_CANDIDATES, key=lambda r: scores[str(r)])
    assert f.info["reg"] in spark_als.REG_CANDIDATES and f.info["reg"] >= best  # one-standard-error rule


def test_engine_ranks_with_intervals_and_agrees_with_pmf(spark, published_105):
    """The whole pipeline on the 105-model table: intervals, warm start and a ranking that
    agrees with pmf's (same model, fitted another way)."""
    from fennec_core.metrics import weighted_tau

    history = published_105
    als = Fennec(factorizer="spark-als", factorizer_config={"k": 3, "reg": 0.03}).fit(history)
    pmf = Fennec(factorizer="pmf", factorizer_config={"k": 3}).fit(history)
    task = history.task_ids[0]
    known = {history.model_ids[i]: float(history.scores[i, 0]) for i in range(3)}
    a, p = als.rank(task, known=known), pmf.rank(task, known=known)
    assert np.all(a.parts["low"] < a.parts["predicted"]) and np.all(a.parts["predicted"] < a.parts["high"])
    sa, sp = dict(zip(a.model_ids, a.scores, strict=True)), dict(zip(p.model_ids, p.scores, strict=True))
    ids = sorted(sa)
    assert weighted_tau(np.array([sp[i] for i in ids]), np.array([sa[i] for i in ids])) > 0.85


def test_store_round_trip_needs_no_spark(spark, small_history, tmp_path):
    engine = Fennec(factorizer="spark-als", factorizer_config={"k": 2, "reg": 0.1}).fit(small_history)
    engine.save(tmp_path / "zoo")
    loaded = Fennec.load(tmp_path / "zoo")
    assert loaded.factorizer == "spark-als"
    np.testing.assert_array_equal(loaded.zoo_.factors.extras["U_cov"], engine.zoo_.factors.extras["U_cov"])
    assert loaded.rank("t1").model_ids == engine.rank("t1").model_ids


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_read_history_through_spark(spark, small_history, tmp_path, fmt):
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv = tmp_path / "h.csv"
    write_history(small_history, csv)
    path = csv
    if fmt == "csv.gz":
        path = tmp_path / "h.csv.gz"
        path.write_bytes(gzip.compress(csv.read_bytes()))
    elif fmt == "parquet":
        path = tmp_path / "h.parquet"
        h = small_history
        pq.write_table(pa.table({"model": [h.model_ids[i] for i in h.rows], "task": [h.task_ids[j] for j in h.cols],
                                 "score": h.values}), path)
    got = spark_als.SparkALS(2).read_history(path)
    assert got.model_ids == small_history.model_ids and got.task_ids == small_history.task_ids
    np.testing.assert_array_equal(got.mask, small_history.mask)
    np.testing.assert_allclose(got.scores[got.mask], small_history.scores[small_history.mask], rtol=1e-12)


@pytest.mark.parametrize(("text", "message"), [
    ("model,task,score\na,t,1\na,t,2\n", "keep one score per pair"),
    ("model,task,value\na,t,1\n", "missing column(s) score"),
    ("model,task,score\na,t,high\n", "lacks an id or a finite score"),
])
def test_read_history_bad_files(spark, tmp_path, text, message):
    path = tmp_path / "h.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spark_als.SparkALS(2).read_history(path)


def test_cli_fit_reads_parquet(spark, cli, small_history, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    h = small_history
    path = tmp_path / "h.parquet"
    pq.write_table(pa.table({"model": [h.model_ids[i] for i in h.rows], "task": [h.task_ids[j] for j in h.cols],
                             "score": h.values}), path)
    code, out, err = cli("fit", "--history", path, "--factorizer", "spark-als", "--config", "factorizer.k=2",
                         "--config", "factorizer.reg=0.1", "--out", tmp_path / "zoo", "-q")
    assert code == 0, err
    assert Fennec.load(tmp_path / "zoo").zoo_.history.nnz == h.nnz


@pytest.fixture
def existing_store(small_history, small_history_csv, tmp_path):
    """A pmf store at the --out path, and its digest: a failed spark-als fit must leave it as it is."""
    store = tmp_path / "zoo"
    Fennec(factorizer_config={"k": 2}).fit(small_history).save(store)
    return store, _tree_digest(store)


def _fails_cleanly(cli, small_history_csv, store, digest, *config, message):
    code, _, err = cli("fit", "--history", small_history_csv, "--factorizer", "spark-als", "--config",
                       "factorizer.k=2", *[a for c in config for a in ("--config", c)], "--out", store, "-q")
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("fennec: error:") and message in err, err
    assert _tree_digest(store) == digest


def test_missing_java_one_line_store_untouched(spark, cli, monkeypatch, small_history_csv, existing_store):
    monkeypatch.setenv("JAVA_HOME", "/nonexistent-java")
    _fails_cleanly(cli, small_history_csv, *existing_store, message="needs a Java runtime")


def test_unreachable_master_one_line_store_untouched(spark, cli, small_history_csv, existing_store):
    _fails_cleanly(cli, small_history_csv, *existing_store, "factorizer.master=spark://127.0.0.1:9",
                   message="the Spark master does not answer")


def test_spark_failure_mid_fit_one_line_store_untouched(spark, cli, monkeypatch, small_history_csv,
                                                        existing_store):
    """A Spark job that fails on an executor (a task raising in Python) ends in one SparkError line."""
    real = spark_als.cells_frame

    def failing(session, rows, cols, values):
        from pyspark.sql import functions as F
        from pyspark.sql.types import FloatType

        @F.udf(FloatType())
        def broken(v):
            raise RuntimeError("executor lost")

        frame = real(session, rows, cols, values)
        return frame.withColumn("value", broken("value"))

    monkeypatch.setattr(spark_als, "cells_frame", failing)
    _fails_cleanly(cli, small_history_csv, *existing_store, "factorizer.reg=0.1", message="Spark failed during")


def test_bad_options():
    with pytest.raises(InputError, match="master must be"):
        spark_als.SparkALS(2, master="")
    with pytest.raises(InputError, match="reg must be"):
        spark_als.SparkALS(2, reg=-1)
    with pytest.raises(FennecError):
        spark_als.SparkALS(2, spark_conf="x")


@pytest.fixture
def published_105():
    from conftest import DATA, PUBLISHED

    from fennec_core.io.tables import convert_table

    fname, kwargs = PUBLISHED["fennec105"]
    return convert_table(DATA / fname, **kwargs)
