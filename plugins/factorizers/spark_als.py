"""Matrix factorization on Apache Spark (MLlib ALS), returning the same factors as ``pmf``.

Model: the one of :mod:`fennec_plugins.factorizers.pmf`,

    z_ij = w_i . x_j + b_i + c_j + eps,

stored augmented the same way (model rows ``[w_i, b_i, 1]``, task rows ``[x_j, 1, c_j]``,
k + 2 columns), so fold-in, intervals, ``explore``, model fold-in and the store work unchanged.
How it is fitted:

1. the biases ``b_i``, ``c_j`` by alternating ridge regression over the observed cells (a few
   O(nnz) sweeps on the driver);
2. the interaction ``w_i . x_j`` by MLlib's alternating least squares (explicit feedback, rank
   ``k``, Zhou et al., "Large-Scale Parallel Collaborative Filtering for the Netflix Prize",
   2008: regularisation ``reg`` scaled by each row's number of cells) on the residuals, in
   Spark (``master``: ``local[2]`` by default, ``spark://``, ``yarn``, ``k8s://`` for a cluster);
3. ``reg="auto"`` chooses the regularisation on a seeded held-out 10% of the cells (like
   ``k="auto"``, by held-out error, with the one-standard-error rule: the strongest
   regularisation whose held-out mean squared error is within one standard error of the best);
4. after the fit, the per-row Gaussian posterior covariances the intervals need: each model's
   (and task's) vector given the other side's fitted vectors and their covariances, with the
   noise precision and the prior precisions fitted by empirical Bayes as ``pmf`` does (one
   variational sweep of the covariances around the ALS means; the means are ALS's).

ALS keeps factors in single precision; everything after it is float64. Spark is started at the
first fit (one session per process, reused); loading or ranking a stored zoo needs no Spark.

``read_history(path)`` reads a history (CSV, CSV.gz, Parquet; any path or URL Spark reads)
through Spark and checks it there (columns, numbers, duplicates) before collecting the cells.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import threading
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import numpy as np
from fennec_plugins.factorizers.pmf import VariationalPMF

from fennec_core import hookimpl
from fennec_core.errors import FennecError, InputError, MissingDependencyError, one_line
from fennec_core.records import Factors

#: Regularisation candidates of ``reg="auto"`` (MLlib's ``regParam``, per cell).
REG_CANDIDATES = (0.01, 0.03, 0.1, 0.3, 1.0)
#: Share of the observed cells held out to choose ``reg``.
HOLDOUT = 0.1
#: Starting ridge of the bias sweeps (in units of cells; then empirical Bayes) and their number.
BIAS_RIDGE, BIAS_SWEEPS = 1.0, 30
#: Spark settings of the session this plugin starts (small shuffles; quiet; no web UI).
SESSION_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "OFF",  # failures reach Python as exceptions, reported in one line
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
#: pyspark's warning about pandas versions (this plugin moves data through Arrow, not pandas).
PANDAS_NOTE = ".*PySpark does not yet fully support pandas.*"
INSTALL_HINT = 'pip install "fennec[spark]" (pyspark and pyarrow) and a Java 17+ runtime (Debian: ' \
               "apt-get install openjdk-17-jre-headless)"


class SparkError(FennecError):
    """Spark could not start, reach its master, or finish a job; the message says what to do."""


# -- the Spark session -----------------------------------------------------------------------

_session_lock = threading.Lock()


def java_available() -> bool:
    """Whether a Java runtime is found the way pyspark looks for one (``JAVA_HOME``, else ``java`` on PATH)."""
    home = os.environ.get("JAVA_HOME")
    if home:
        return os.access(os.path.join(home, "bin", "java"), os.X_OK)
    return shutil.which("java") is not None


def check_master(master: str, timeout: float = 5.0) -> None:
    """Refuse a ``spark://host:port`` master that does not answer within ``timeout`` seconds
    (Spark itself would retry for a minute and more), in one line naming the fix."""
    if not master.startswith("spark://"):
        return
    for hostport in master[len("spark://"):].split(","):
        url = urlparse(f"spark://{hostport}")
        try:
            with socket.create_connection((url.hostname or "", url.port or 7077), timeout=timeout):
                return
        except OSError as exc:
            last = exc
    raise SparkError(f"factorizer.master={master}: the Spark master does not answer ({one_line(last)}); start it "
                     "(sbin/start-master.sh), check the address, or use factorizer.master=local[2] to fit here")


def spark_session(master: str = "local[2]", conf: dict[str, str] | None = None) -> Any:
    """The process's Spark session on ``master`` (started once, reused; a different master
    stops the old session first). Missing pyspark or Java is one :class:`SparkError`."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise MissingDependencyError(f"the spark-als factorizer needs pyspark ({exc.name} is missing): "
                                     f"{INSTALL_HINT}") from None
    if not java_available():
        raise SparkError("the spark-als factorizer needs a Java runtime and none was found (JAVA_HOME unset and no "
                         "java on PATH): install Java 17+ (Debian: apt-get install openjdk-17-jre-headless) or set "
                         "JAVA_HOME")
    check_master(master)
    from pyspark import SparkContext

    with _session_lock:
        active = SparkContext._active_spark_context  # the process's one context, whichever thread made it
        if active is not None and active.master != master:
            SparkSession.builder.getOrCreate().stop()
        builder = SparkSession.builder.master(master).appName("fennec-spark-als")
        for key, value in {**SESSION_CONF, **(conf or {})}.items():
            builder = builder.config(key, str(value))
        # pyspark logs a failed query's context as JSON before raising; spark_errors reports it in one line
        logging.getLogger("DataFrameQueryContextLogger").setLevel(logging.CRITICAL)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=PANDAS_NOTE)
                return builder.getOrCreate()
        except Exception as exc:
            raise SparkError(f"Spark did not start on master {master} ({type(exc).__name__}: {one_line(exc, 240)}); "
                             "check the master address and that its Java/Spark versions match pyspark "
                             f"(or use factorizer.master=local[2])") from None


@contextlib.contextmanager
def spark_errors(during: str, master: str) -> Iterator[None]:
    """Turn a Spark/Py4J failure inside the block into one :class:`SparkError` naming the fix."""
    try:
        with warnings.catch_warnings():  # pyspark's note on pandas versions: Arrow is used, not pandas
            warnings.filterwarnings("ignore", message=PANDAS_NOTE)
            yield
    except FennecError:
        raise
    except Exception as exc:
        name = type(exc).__name__
        if not (type(exc).__module__.startswith(("pyspark", "py4j")) or "Py4J" in name or "Spark" in name):
            raise
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), name)
        raise SparkError(f"Spark failed during {during} on master {master} ({name}: {one_line(first, 240)}); "
                         "nothing was written. Check the cluster's logs and memory "
                         "(factorizer.spark_conf can raise spark.executor.memory), then run again") from None


# -- the factorizer ----------------------------------------------------------------------------


class SparkALS(VariationalPMF):
    """MLlib ALS on Spark with model and task biases and posterior covariances; see the module docstring."""

    requires = ('pyspark',)  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[spark]' (and a Java runtime)"

    name = "spark-als"

    def __init__(
        self,
        k: int = 3,
        *,
        reg: float | str = "auto",
        max_iter: int = 10,
        seed: int = 0,
        master: str = "local[2]",
        blocks: int = 2,
        spark_conf: dict[str, str] | None = None,
        prior_floor: float = 1e-3,
    ) -> None:
        from fennec_plugins.factorizers.base import number_option, whole_option

        self.k = whole_option(self.name, "k", k, 0)
        self.max_iter = whole_option(self.name, "max_iter", max_iter, 1)
        self.seed = whole_option(self.name, "seed", seed, 0)
        self.blocks = whole_option(self.name, "blocks", blocks, 1)
        self.reg = reg if reg == "auto" else number_option(self.name, "reg", reg, 0.0)
        if not isinstance(master, str) or not master.strip():
            raise InputError(f"{self.name}: master must be a Spark master URL (local[2], spark://host:7077, yarn, "
                             f"k8s://...), got {master!r}")
        if spark_conf is not None and not isinstance(spark_conf, dict):
            raise InputError(f"{self.name}: spark_conf must be a mapping of Spark settings, got {spark_conf!r}")
        self.master, self.spark_conf = master.strip(), dict(spark_conf or {})
        self.prior_floor = number_option(self.name, "prior_floor", prior_floor, 1e-12)
        self.tol, self.device = 0.0, "cpu"
        self.reg_selection_: dict[float, float] | None = None

    # -- reading ---------------------------------------------------------------------------------

    def read_history(self, path: str | os.PathLike[str]) -> Any:
        """Read a long history (``model,task,score``) through Spark: CSV, CSV.gz or Parquet (a
        file or a folder of parts; any URL Spark reads), checked in Spark, collected as cells."""
        from fennec_core.records import History

        path = os.fspath(path)
        spark = spark_session(self.master, self.spark_conf)
        from pyspark.sql import functions as F

        with spark_errors(f"reading {path}", self.master):
            parquet = path.rstrip("/").endswith(".parquet") or (os.path.isdir(path) and any(
                f.endswith(".parquet") for f in os.listdir(path)))
            try:
                df = spark.read.parquet(path) if parquet else spark.read.csv(path, header=True, inferSchema=False)
            except Exception as exc:
                if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
                    raise InputError(f"{path}: no such file; give a CSV, CSV.gz or Parquet history") from None
                raise
            missing = [c for c in ("model", "task", "score") if c not in df.columns]
            if missing:
                raise InputError(f"{path}: missing column(s) {', '.join(missing)}; the columns are "
                                 f"{','.join(df.columns) or '(none)'} but must include model,task,score")
            df = df.select(F.trim(F.col("model").cast("string")).alias("model"),
                           F.trim(F.col("task").cast("string")).alias("task"),
                           F.col("score").alias("raw"), F.col("score").try_cast("double").alias("score"))
            bad = df.filter(F.col("model").isNull() | (F.col("model") == "") | F.col("task").isNull()
                            | (F.col("task") == "") | F.col("score").isNull() | F.isnan("score")
                            | (F.abs("score") == float("inf"))).limit(1).collect()
            if bad:
                r = bad[0]
                raise InputError(f"{path}: a row with model {r['model']!r}, task {r['task']!r}, score {r['raw']!r} "
                                 "lacks an id or a finite score; fix or drop such rows")
            dup = df.groupBy("model", "task").count().filter("count > 1").limit(1).collect()
            if dup:
                raise InputError(f"{path}: model {dup[0]['model']!r}, task {dup[0]['task']!r} has "
                                 f"{dup[0]['count']} rows; keep one score per pair")
            table = df.select("model", "task", "score").toArrow()
        if table.num_rows == 0:
            raise InputError(f"{path}: has a header but no rows")
        models, rows = sorted_codes(table.column("model"))
        tasks, cols = sorted_codes(table.column("task"))
        return History.from_cells(models, tasks, rows, cols, table.column("score").to_numpy())

    # -- fitting ---------------------------------------------------------------------------------

    def fit_cells(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                  shape: tuple[int, int]) -> Factors:
        """Fit on the observed cells (row-major) with Spark; see the module docstring."""
        from fennec_plugins.factorizers.base import check_cells

        rows, cols, vals = check_cells(rows, cols, values, shape)
        m, n = int(shape[0]), int(shape[1])
        if max(m, n) >= 2**31:
            raise InputError(f"{self.name}: MLlib ALS indexes rows and columns with 32-bit integers; {m} x {n} is "
                             "too large")
        spark = spark_session(self.master, self.spark_conf) if self.k > 0 else None
        with spark_errors("the ALS fit", self.master):
            reg, scores = self._choose_reg(spark, rows, cols, vals, (m, n))
            U, V = self._fit_means(spark, rows, cols, vals, (m, n), reg)
        self.reg_selection_ = scores
        U_cov, V_cov, noise_var = posterior_covariances(U, V, rows, cols, vals, self.k, self.prior_floor)
        fitted = np.einsum("ij,ij->i", U[rows], V[cols])
        info: dict[str, Any] = {"factorizer": self.name, "k": self.k, "reg": reg, "master": self.master, "n_iter": self.max_iter,
                                "noise_sd": float(np.sqrt(noise_var)),
                                "rmse": float(np.sqrt(np.mean((vals - fitted) ** 2)))}
        if scores:
            info["reg_heldout_rmse"] = {str(r): s for r, s in scores.items()}
        return Factors(U, V, extras={"U_cov": U_cov, "V_cov": V_cov, "noise_var": np.array([noise_var])}, info=info)

    def _choose_reg(self, spark: Any, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                    shape: tuple[int, int]) -> tuple[float, dict[float, float]]:
        """(regularisation, {candidate: held-out RMSE}); a given ``reg`` is used as is."""
        if self.reg != "auto":
            return float(self.reg), {}
        if self.k == 0:
            return REG_CANDIDATES[-1], {}
        hold = holdout_cells(rows, cols, shape, HOLDOUT, self.seed)
        if not hold.any():
            return REG_CANDIDATES[-1], {}
        scores, spread = {}, {}
        for reg in REG_CANDIDATES:
            U, V = self._fit_means(spark, rows[~hold], cols[~hold], vals[~hold], shape, reg)
            sq = (np.einsum("ij,ij->i", U[rows[hold]], V[cols[hold]]) - vals[hold]) ** 2
            scores[reg], spread[reg] = float(np.sqrt(sq.mean())), float(sq.std() / np.sqrt(sq.size))
        # the one-standard-error rule: the strongest regularisation whose held-out mean squared
        # error is within one standard error of the best one's
        best = min(REG_CANDIDATES, key=lambda r: (round(scores[r], 12), -r))
        limit = scores[best] ** 2 + spread[best]
        return max(r for r in REG_CANDIDATES if scores[r] ** 2 <= limit), scores

    def _fit_means(self, spark: Any, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                   shape: tuple[int, int], reg: float) -> tuple[np.ndarray, np.ndarray]:
        """Augmented means ``U`` (m, k+2), ``V`` (n, k+2): biases here, interactions by ALS."""
        m, n = shape
        k = self.k
        b, c = fit_biases(rows, cols, vals, shape)
        U, V = np.zeros((m, k + 2)), np.zeros((n, k + 2))
        U[:, k], U[:, k + 1] = b, 1.0
        V[:, k], V[:, k + 1] = 1.0, c
        if k > 0:
            U[:, :k], V[:, :k] = self._als(spark, rows, cols, vals - b[rows] - c[cols], shape, reg)
        return U, V

    def _als(self, spark: Any, rows: np.ndarray, cols: np.ndarray, resid: np.ndarray, shape: tuple[int, int],
             reg: float) -> tuple[np.ndarray, np.ndarray]:
        """MLlib ALS of rank k on the residual cells; rows or columns without cells get zeros."""
        from pyspark.ml.recommendation import ALS

        frame = cells_frame(spark, rows, cols, resid).persist()
        try:
            als = ALS(rank=self.k, maxIter=self.max_iter, regParam=float(reg), userCol="row", itemCol="col",
                      ratingCol="value", seed=self.seed, numUserBlocks=self.blocks, numItemBlocks=self.blocks,
                      implicitPrefs=False, nonnegative=False, intermediateStorageLevel="MEMORY_AND_DISK",
                      finalStorageLevel="MEMORY_AND_DISK")
            model = als.fit(frame)
            W = collect_factors(model.userFactors, shape[0], self.k)
            X = collect_factors(model.itemFactors, shape[1], self.k)
        finally:
            frame.unpersist()
        return W, X


def sorted_codes(column: Any) -> tuple[list[str], np.ndarray]:
    """(sorted distinct ids, each row's index among them) of an Arrow string column."""
    import pyarrow.compute as pc

    ids = pc.unique(column)
    ids = ids.take(pc.sort_indices(ids))
    return ids.to_pylist(), pc.index_in(column, value_set=ids).to_numpy(zero_copy_only=False).astype(np.int64)


def cells_frame(spark: Any, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> Any:
    """A Spark DataFrame ``(row int, col int, value float)`` of the cells, sent through Arrow in chunks."""
    import pyarrow as pa

    table = pa.table({"row": rows.astype(np.int32), "col": cols.astype(np.int32),
                      "value": values.astype(np.float32)})
    return spark.createDataFrame(table)


def collect_factors(frame: Any, size: int, k: int) -> np.ndarray:
    """ALS factors ``(id, features)`` as a dense (size, k) float64 array, zeros for absent ids."""
    table = frame.toArrow()
    out = np.zeros((size, k))
    if table.num_rows:
        ids = table.column("id").to_numpy()
        feats = np.asarray(table.column("features").combine_chunks().flatten(), dtype=np.float64)
        out[ids] = feats.reshape(-1, k)
    return out


def fit_biases(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int],
               sweeps: int = BIAS_SWEEPS) -> tuple[np.ndarray, np.ndarray]:
    """Model biases ``b`` (m,) and task offsets ``c`` (n,) with ``z ~ b_i + c_j``: alternating
    ridge regressions, ``b`` shrunk toward 0 and ``c`` toward the mean with the ridge of an
    empirical-Bayes Gaussian prior (noise variance over the prior variance, refitted each sweep,
    as pmf's prior precisions are); O(nnz) each sweep."""
    m, n = shape
    mean = float(vals.mean())
    nr = np.bincount(rows, minlength=m).astype(np.float64)
    nc = np.bincount(cols, minlength=n).astype(np.float64)
    b, c = np.zeros(m), np.full(n, mean)
    ridge_b = ridge_c = BIAS_RIDGE
    for _ in range(sweeps):
        b = np.bincount(rows, vals - c[cols], minlength=m) / (nr + ridge_b)
        c = mean + np.bincount(cols, vals - b[rows] - mean, minlength=n) / (nc + ridge_c)
        resid = vals - b[rows] - c[cols]
        noise = max(float(resid @ resid) / vals.size, 1e-12)
        ridge_b = noise / max(float(b @ b) / m, 1e-12)
        ridge_c = noise / max(float(((c - mean) ** 2).mean()), 1e-12)
    return b, c


def holdout_cells(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], share: float,
                  seed: int) -> np.ndarray:
    """A seeded selection of about ``share`` of the cells to hold out, keeping at least one
    training cell in every row and column that has cells."""
    rng = np.random.default_rng(seed)
    hold = rng.random(rows.size) < share
    for axis, size in ((rows, shape[0]), (cols, shape[1])):
        kept = np.bincount(axis[~hold], minlength=size) > 0
        at = np.flatnonzero(hold & ~kept[axis])
        _, first = np.unique(axis[at], return_index=True)
        hold[at[first]] = False
    return hold


def posterior_covariances(U: np.ndarray, V: np.ndarray, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                          k: int, prior_floor: float = 1e-3) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-row posterior covariances (m, D, D), (n, D, D) and the noise variance around fitted means.

    ``U``/``V`` are augmented like pmf's (D = k + 2; free model coordinates ``[w, b]``, free task
    coordinates ``[x, c]``). Each row's covariance is the inverse of its Gaussian precision
    ``tau * sum_j E[v_j v_j'] + diag(alpha)`` over its observed cells, the other side's second
    moments including its covariances; ``tau`` (noise precision) and ``alpha`` (prior precision
    per coordinate) are fitted by empirical Bayes: tasks first (models fixed), then models, then
    tasks again. Sums over cells are sparse products: O(nnz D^2).
    """
    import scipy.sparse as sp

    m, n, D = U.shape[0], V.shape[0], k + 2
    fu, fv = list(range(k + 1)), [*range(k), k + 1]
    ones = np.ones(rows.size)
    M1 = sp.csr_matrix((ones, (rows, cols)), shape=(m, n))
    M1t = M1.T.tocsr()
    resid = vals - np.einsum("ij,ij->i", U[rows], V[cols])
    tau = rows.size / max(float(resid @ resid), 1e-12)

    def outer(A: np.ndarray, S: np.ndarray | None) -> np.ndarray:
        G = A[:, :, None] * A[:, None, :]
        return (G if S is None else G + S).reshape(A.shape[0], D * D)

    def prior(A: np.ndarray, S: np.ndarray | None, free: list[int]) -> np.ndarray:
        second = (A[:, free] ** 2).sum(0) + (0 if S is None else np.diagonal(S, axis1=1, axis2=2)[:, free].sum(0))
        return np.clip(A.shape[0] / np.maximum(second, 1e-12), prior_floor, 1e6)

    def covs(M: Any, other: np.ndarray, S_other: np.ndarray | None, free: list[int], alpha: np.ndarray,
             size: int) -> np.ndarray:
        S = np.asarray(M @ outer(other, S_other)).reshape(size, D, D)[:, free][:, :, free]
        cov_f = np.linalg.inv(tau * S + np.diag(alpha))
        cov_f = 0.5 * (cov_f + cov_f.transpose(0, 2, 1))
        out = np.zeros((size, D, D))
        out[np.ix_(np.arange(size), free, free)] = cov_f
        return out

    V_cov = covs(M1t, U, None, fv, prior(V, None, fv), n)
    U_cov = covs(M1, V, V_cov, fu, prior(U, None, fu), m)
    extra = float((U_cov.reshape(m, D * D) * (M1 @ outer(V, V_cov))).sum()
                  + (outer(U, None) * (M1 @ V_cov.reshape(n, D * D))).sum())
    tau = rows.size / max(float(resid @ resid) + extra, 1e-12)
    V_cov = covs(M1t, U, U_cov, fv, prior(V, V_cov, fv), n)
    return U_cov, V_cov, 1.0 / tau


@hookimpl
def fennec_register_factorizers(register):
    """Register MLlib ALS on Spark as ``spark-als`` (pyspark is imported at the first fit)."""
    register("spark-als", SparkALS)
