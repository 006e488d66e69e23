"""Request and response models of the service: the OpenAPI schema at ``/openapi.json``.

Requests forbid unknown fields and carry their limits (``top``, ``batch``, lengths), so a client
learns them from the schema and a bad value is a 422 naming the field. Responses mirror what the
CLI prints with ``--json`` (:meth:`fennec_core.records.Ranking.to_dict`,
:meth:`fennec_core.scoring.suggest.Suggestions.to_dict`), plus the zoo and its generation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

from fennec_core.serve.settings import MAX_BATCH, MAX_TOP

Id = Annotated[str, Field(min_length=1, max_length=300)]
ZooName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Known = Annotated[dict[Id, FiniteFloat], Field(max_length=100_000)]
Row = Annotated[list[FiniteFloat], Field(min_length=1, max_length=4096)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskRequest(_Request):
    """A task to rank or search for: a zoo, then what is known about the task.

    ``task``: an id (a task of the zoo reuses its card and fitted vector); what places a new
    task, at most one of ``description`` (words, through the text proxy) and ``embeddings``
    ([n_items, d], embedded like the zoo's tasks); ``known``: scores already measured on the
    task, ``{model id: score}`` in the zoo's units (a warm start); ``probes``: probe scores on the
    task's own data, ``{model id: {estimator: score}}`` (``Fennec.rank(probes=...)``).
    """

    zoo: ZooName | None = Field(None, description="a served zoo (GET /zoos); default: the server's default zoo")
    task: Id | None = Field(None, description="task id; a task of the zoo reuses its card")
    num_classes: int | None = Field(None, ge=1, le=1_000_000_000, description="classes of the new task")
    train_size: int | None = Field(None, ge=1, le=1_000_000_000_000, description="training-set size")
    description: str | None = Field(None, min_length=1, max_length=2000, description="the task in words")
    embeddings: Annotated[list[Row], Field(min_length=1, max_length=10_000)] | None = Field(
        None, description="the new task's items embedded like the zoo's tasks, [n_items, d]")
    known: Known | None = Field(None, description="{model id: score} measured on this task")
    probes: Annotated[dict[Id, Annotated[dict[Annotated[str, Field(min_length=1, max_length=100)], FiniteFloat],
                                         Field(min_length=1, max_length=50)]], Field(max_length=100_000)] | None = Field(
        None, description="{model id: {estimator: score}} measured on the task's own data (e.g. logme), fused with "
                          "the history through the zoo's probe mapping")
    card: Annotated[dict[Annotated[str, Field(min_length=1, max_length=100)],
                         Annotated[str, Field(min_length=1, max_length=1000)]], Field(max_length=50)] | None = Field(
        None, description="categorical values of the task as in the zoo's tasks table, e.g. "
                          "{\"type\": \"Retrieval\", \"languages\": \"deu\"} (several values comma-separated)")


class RankRequest(TaskRequest):
    """``POST /rank``: the task, how many models to return and whether to rank optimistically."""

    top: int = Field(10, ge=1, le=MAX_TOP, description=f"models returned, best first (at most {MAX_TOP})")
    explore: bool = Field(False, description="rank by the optimistic (upper 90%) end of each interval")
    max_params: FiniteFloat | None = Field(None, gt=0, description="rank only models with at most this many "
                                                                   "parameters")
    license: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]],
                       Field(min_length=1, max_length=50)] | None = Field(
        None, description="rank only models under one of these licences, e.g. [\"apache-2.0\", \"mit\"]")
    open_weights: bool = Field(False, description="rank only models with open weights")
    min_max_tokens: FiniteFloat | None = Field(None, gt=0, description="rank only models with a context of at "
                                                                       "least this many tokens")
    where: str | None = Field(None, min_length=1, max_length=2000,
                              description="conditions over model-card columns joined by &, e.g. "
                                          "\"params<=1e9 & license=apache-2.0,mit\" (OP: <= < >= > = !=)")


class NextRequest(TaskRequest):
    """``POST /next``: which model(s) to fine-tune next, given the ``known`` results."""

    strategy: Literal["ei", "ucb", "thompson", "greedy"] = "ei"
    batch: int = Field(1, ge=1, le=MAX_BATCH, description=f"models proposed (at most {MAX_BATCH})")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="seed of Thompson draws (default: the zoo's)")


class Result(_Request):
    """One measured result: a model's score on a task, in the zoo's units."""

    model: Id
    task: Id
    score: FiniteFloat


class TaskCardIn(_Request):
    """What is known about a new task of the results (optional)."""

    task: Id
    num_classes: int | None = Field(None, ge=1, le=1_000_000_000)
    train_size: int | None = Field(None, ge=1, le=1_000_000_000_000)
    description: str | None = Field(None, min_length=1, max_length=2000)


class ResultsRequest(_Request):
    """``POST /zoos/{zoo}/results``: measured results folded into the zoo (new tasks and models)."""

    results: Annotated[list[Result], Field(min_length=1, max_length=100_000)]
    tasks: Annotated[list[TaskCardIn], Field(max_length=10_000)] = []
    refit_threshold: float = Field(2.0, ge=0, le=1e6, description="refit fully when the fold-in residual exceeds "
                                                                   "this x the zoo's own (see `fennec update`)")


# -- responses ----------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every error: what kind, and one line saying what was wrong and what to do."""

    error: str
    detail: str


class Health(BaseModel):
    """``GET /health``."""

    status: Literal["ok"]
    version: str
    pid: int
    zoos: list[str]
    writes: bool


class ZooSummary(BaseModel):
    """One served zoo."""

    name: str
    models: int
    tasks: int
    observed: int
    generation: str | None
    bundled: str | None = Field(description="the bundled zoo it is (a copy of), if any")
    title: str | None
    writable: bool
    describable: bool = Field(description="whether tasks can be described in words on this zoo")


class ZooList(BaseModel):
    """``GET /zoos``."""

    default: str
    zoos: list[ZooSummary]


class Page(BaseModel):
    """A window of a long list: ``items[offset : offset + limit]`` of ``total``."""

    total: int
    offset: int
    limit: int
    items: list[dict[str, Any]]


class ZooDetail(ZooSummary):
    """``GET /zoos/{zoo}``: what ``fennec zoo info`` shows: settings, then a page of its tasks and
    one of its models."""

    models_without_history: int = Field(description="models ranked from their features alone")
    factorizer: str
    k: int = Field(description="the latent size of the transfer space")
    score_merger: str
    ranker: str
    normalization: str
    model_features: list[str]
    task_proxy: str | None
    tasks_with_embeddings: list[str] = Field(description="tasks the task proxy embedded")
    described_tasks: list[str] = Field(description="tasks with a card but no result yet")
    task_table: Page
    model_table: Page


class RankedModel(BaseModel):
    """One model of a ranking: final score, predicted score in the task's units, 90% interval
    (and any other part the ranking has, by name)."""

    model_config = ConfigDict(extra="allow")

    rank: int
    model: str
    score: float | None
    predicted: float | None = None
    low: float | None = None
    high: float | None = None
    sd: float | None = None
    transfer: float | None = None
    meta: float | None = None
    observed: float | None = None


class RankResponse(BaseModel):
    """``POST /rank``: the ranking as ``fennec rank --json`` prints it, plus the zoo's generation."""

    zoo: str
    generation: str | None
    task: str | None
    info: dict[str, Any]
    notes: list[str]
    models: list[RankedModel]


class NextResponse(BaseModel):
    """``POST /next``: the proposals as ``fennec next --json`` prints them."""

    zoo: str
    generation: str | None
    task: str | None
    strategy: str
    batch_method: str
    known: dict[str, float]
    best_known: dict[str, Any] | None
    proposals: list[dict[str, Any]]
    notes: list[str]


class ResultsResponse(BaseModel):
    """``POST /zoos/{zoo}/results``: what the fold-in did (as ``fennec update --json``)."""

    zoo: str
    generation: str | None
    cells: int
    new_tasks: list[str]
    new_models: list[str]
    refit: bool
    reason: str | None
