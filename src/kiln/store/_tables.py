"""The metadata records, as SQLAlchemy tables. A schema change needs a migration in migrations/."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class DatasetVersionRow(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_dataset_name_version"),
        Index("ix_dataset_name_digest", "name", "digest"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(BigInteger)
    column_count: Mapped[int] = mapped_column(Integer)
    schema: Mapped[dict] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)  # index: migration 0012
    created_by: Mapped[str] = mapped_column(String(200))


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (  # migration 0012: the job list by kind, status or parent, newest first
        Index("ix_jobs_kind_created_at", "kind", "created_at"),
        Index("ix_jobs_status_created_at", "status", "created_at"),
        Index("ix_jobs_parent_id_created_at", "parent_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    spec: Mapped[dict] = mapped_column(JSON)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    experiment: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A job that failed with a KilnError: its code and kiln.errors class name (migration 0005).
    failure_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    failure_class: Mapped[str | None] = mapped_column(String(100), nullable=True)
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    # The process in charge of the job (migration 0006): the one that created it while it is
    # Pending, its own process once it runs. ``pid_created`` is that process's start time (epoch
    # seconds), so a reused pid is not taken for it; ``heartbeat_at`` is its last sign of life;
    # ``launcher_pid`` the parent that started the job's process and records how it ended.
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pid_created: Mapped[float | None] = mapped_column(Float, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    launcher_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(index=True)  # index: migration 0012
    started_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)  # 0012
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))


class JobLogRow(Base):
    __tablename__ = "job_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    time: Mapped[datetime]
    level: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)


class JobMetricRow(Base):
    __tablename__ = "job_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)


class ExperimentRow(Base):
    __tablename__ = "experiments"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class ModelGroupRow(Base):
    __tablename__ = "model_groups"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("group", "version", name="uq_model_group_version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    group: Mapped[str] = mapped_column(ForeignKey("model_groups.name"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(100))
    problem_type: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200))
    signature: Mapped[dict] = mapped_column(JSON)
    metrics: Mapped[dict] = mapped_column(JSON)
    hyperparameters: Mapped[dict] = mapped_column(JSON)
    library_versions: Mapped[dict] = mapped_column(JSON)
    dataset_version_id: Mapped[str | None] = mapped_column(ForeignKey("dataset_versions.id"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    approval_status: Mapped[str] = mapped_column(String(40))
    approval_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approval_at: Mapped[datetime | None] = mapped_column(nullable=True)
    approval_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(index=True)  # index: migration 0012
    created_by: Mapped[str] = mapped_column(String(200))
    # What a version carries beyond metrics: an AutoML model's leaderboard, ensemble, explanation.
    details: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # Migration 0011: the compiled forms of this version, by target ("onnx", "native"): the
    # artifact, its digest and the parity figures that let it serve. None: never compiled.
    compiled: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class ModelApprovalEventRow(Base):
    """One approval decision on a model version; the version row holds the latest."""

    __tablename__ = "model_approval_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), index=True)
    status: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class ModelAliasRow(Base):
    """A movable name for one version of a group: ``churn@production``."""

    __tablename__ = "model_aliases"

    group: Mapped[str] = mapped_column(ForeignKey("model_groups.name"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class EndpointRow(Base):
    __tablename__ = "endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    variants: Mapped[list] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    # Data capture settings (migration 0008): {"percent": 100.0, "format": "jsonl"}; {} for none.
    capture: Mapped[dict] = mapped_column(JSON, default=dict)
    # The job id of the guarded deployment in progress (canary, linear, blue/green), else None:
    # one deployment per endpoint at a time.
    active_deployment: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Migration 0011: how the endpoint serves, one section per inference option ("serverless",
    # "multi_model", "autoscale", "async"); {} for a plain real-time endpoint.
    config: Mapped[dict] = mapped_column(JSON, default=dict)


class DeploymentRow(Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    variants: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    # Why this revision exists beyond "someone deployed": a rollback, an unapproved deploy.
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Migration 0008: the strategy that made it ("canary:10%:5m"), the deployment job, and how that
    # deployment ended on this revision ("completed", "rolled-back"; None while it runs).
    strategy: Mapped[str | None] = mapped_column(String(100), nullable=True)
    job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)


class VariantMetricsRow(Base):
    """What one serving process saw of one variant in one period: counts, latency histograms and
    the predictions' distribution. Servers add a row per period they served; readers sum them
    (several workers, several servers)."""

    __tablename__ = "variant_metrics"
    __table_args__ = (Index("ix_variant_metrics_endpoint_period", "endpoint", "period_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(200))
    variant: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))  # live | shadow
    period_start: Mapped[datetime]
    period_seconds: Mapped[float] = mapped_column(Float)
    worker: Mapped[str] = mapped_column(String(300))  # host:pid of the serving process
    invocations: Mapped[int] = mapped_column(Integer)
    errors_4xx: Mapped[int] = mapped_column(Integer)
    errors_5xx: Mapped[int] = mapped_column(Integer)
    # {"bounds": [...seconds], "counts": [... one more than bounds], "sum": s} per latency kind
    model_latency: Mapped[dict] = mapped_column(JSON)
    overhead_latency: Mapped[dict] = mapped_column(JSON)
    # Classes: {"labels": {label: count}}; values: {"count", "sum", "sum_squares", "min", "max"}
    predictions: Mapped[dict] = mapped_column(JSON)
    # A shadow variant's comparison with the live answer: {"compared", "agreed", "errors",
    # "probability_difference": histogram, "live_latency": histogram}; {} for live variants.
    comparison: Mapped[dict] = mapped_column(JSON, default=dict)


class ApiKeyRow(Base):
    """An API key for the serving API: only a salted hash of the secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the public part of the key
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    endpoint: Mapped[str | None] = mapped_column(String(200), nullable=True)  # None: every one
    salt: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(128))
    rate_limit: Mapped[float | None] = mapped_column(Float, nullable=True)  # requests per second
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class GroundTruthRow(Base):
    """The true label of one captured prediction, by its inference id (latest upload wins)."""

    __tablename__ = "ground_truth"
    __table_args__ = (
        UniqueConstraint("endpoint", "inference_id", name="uq_ground_truth_inference"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(200), index=True)
    inference_id: Mapped[str] = mapped_column(String(64))
    label: Mapped[dict] = mapped_column(JSON)  # {"value": ...}
    received_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class BaselineRow(Base):
    """A monitoring baseline (migration 0009): the statistics of a reference data set (and its
    model's predictions), and the constraints suggested from them, which the user may edit."""

    __tablename__ = "baselines"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_version_id: Mapped[str] = mapped_column(String(40), index=True)
    model: Mapped[str | None] = mapped_column(String(300), nullable=True)  # "group:version"
    statistics: Mapped[dict] = mapped_column(JSON)
    constraints: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]  # the constraints' last edit


class MonitorRow(Base):
    """A monitor on an endpoint's captured traffic (migration 0009)."""

    __tablename__ = "monitors"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200), index=True)
    # data-quality | model-quality | bias | attribution
    type: Mapped[str] = mapped_column(String(40))
    baseline_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    schedule: Mapped[str] = mapped_column(String(100))  # hourly | daily | a cron expression
    window_seconds: Mapped[float] = mapped_column(Float)
    # How long before the run the window ends: labels arrive late (model quality, bias).
    offset_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    config: Mapped[dict] = mapped_column(JSON, default=dict)  # per-type options (facet, ...)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class MonitorRunRow(Base):
    """One run of a monitor, or of ``kiln monitor compare`` (``monitor`` None): the window it
    read, its metrics (flat name -> number), its violations and its report."""

    __tablename__ = "monitor_runs"
    __table_args__ = (Index("ix_monitor_runs_monitor_started", "monitor", "started_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    monitor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    type: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # Completed | NoData | Failed
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    window_start: Mapped[datetime | None] = mapped_column(nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(nullable=True)
    # What was compared: {"reference": "...", "current": "..."} (data set refs, capture window).
    inputs: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    violations: Mapped[list] = mapped_column(JSON, default=list)
    # Statistics of the current data and counts (rows read, corrupt records skipped, ...).
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    report_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class AlarmRow(Base):
    """A user's alarm (migration 0009): a condition on a monitor's or an endpoint's metrics, and
    the actions taken when it goes into ALARM."""

    __tablename__ = "alarms"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(300))  # monitor:M | endpoint:E:METRIC
    condition: Mapped[str] = mapped_column(String(300))
    actions: Mapped[list] = mapped_column(JSON)  # ["log", "webhook:URL", ...]
    state: Mapped[str] = mapped_column(String(30))  # OK | ALARM | INSUFFICIENT_DATA
    state_changed_at: Mapped[datetime]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class AlarmEventRow(Base):
    """A state change of an alarm, its evidence, and the actions taken with their outcome."""

    __tablename__ = "alarm_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alarm: Mapped[str] = mapped_column(String(200), index=True)
    time: Mapped[datetime]
    old_state: Mapped[str] = mapped_column(String(30))
    new_state: Mapped[str] = mapped_column(String(30))
    evidence: Mapped[dict] = mapped_column(JSON)
    actions: Mapped[list] = mapped_column(JSON)  # [{"action", "outcome", "detail"}]


class ScheduleRow(Base):
    """Something the scheduler runs on a cron schedule (migration 0009): a monitor, a retraining.
    ``lease_owner``/``lease_until`` make sure two schedulers never run one schedule twice."""

    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)  # "monitor:M", "retrain:N"
    kind: Mapped[str] = mapped_column(String(40))  # monitor | retrain
    target: Mapped[dict] = mapped_column(JSON)  # what to run: {"monitor": M} or a training spec
    expression: Mapped[str] = mapped_column(String(100))  # a cron expression (UTC)
    next_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(300), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]


class LineageRow(Base):
    """A directed edge: ``source`` was used to produce ``target``."""

    __tablename__ = "lineage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_kind: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[str] = mapped_column(String(40), index=True)
    target_kind: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(40), index=True)
    relation: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]


class DatasetProfileRow(Base):
    """The stored profile of a data set version for one target (``""`` for none)."""

    __tablename__ = "dataset_profiles"
    __table_args__ = (
        UniqueConstraint("dataset_version_id", "target", name="uq_profile_version_target"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    target: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict] = mapped_column(JSON)
    json_digest: Mapped[str] = mapped_column(String(64))
    html_digest: Mapped[str] = mapped_column(String(64))
    summary: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class ProblemRow(Base):
    """One version of a problem spec (migration 0010): the goal, target, success criteria and
    owner. A changed spec is a new version; the same spec again is the same version."""

    __tablename__ = "problems"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_problem_name_version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the canonical spec
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class PipelineRow(Base):
    """One version of a pipeline definition (migration 0010): its parameters and step DAG."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_pipeline_name_version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text, nullable=True)  # the file it came from
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class PipelineStepRow(Base):
    """One step of a pipeline execution (an execution is a job of kind ``pipeline``): its status,
    the cache key of its inputs, parameters and code, and the references it produced."""

    __tablename__ = "pipeline_steps"
    __table_args__ = (UniqueConstraint("execution_id", "step", name="uq_pipeline_step"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    step: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))  # train, processing, condition, ...
    status: Mapped[str] = mapped_column(String(20))
    cache_key: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    cached_from: Mapped[str | None] = mapped_column(String(40), nullable=True)  # a step row id
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it ran, or failed
    attempts: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict] = mapped_column(JSON)
    outputs: Mapped[dict] = mapped_column(JSON)  # {"model": "churn:3", "data": "clean:2", ...}
    job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the step's own job
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AsyncInvocationRow(Base):
    """One asynchronous invocation (migration 0011): the durable queue. A server claims a Pending
    row by taking its lease; a row whose lease ran out (its server died) is claimed again, and its
    output, written under its own id, is never duplicated."""

    __tablename__ = "async_invocations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the inference id
    endpoint: Mapped[str] = mapped_column(String(200), index=True)
    # Pending, InProgress, Completed, Failed
    status: Mapped[str] = mapped_column(String(20), index=True)
    input_location: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(100))
    output_location: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(300), nullable=True)  # GROUP:VERSION used
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    timeout_seconds: Mapped[float] = mapped_column(Float)
    webhook: Mapped[dict] = mapped_column(JSON, default=dict)  # {"success": url, "failure": url}
    notifications: Mapped[list] = mapped_column(JSON, default=list)  # each delivery attempt
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ScalingEventRow(Base):
    """One scaling action of an endpoint (migration 0011): workers added or removed by the
    autoscaler, a serverless model unloaded or loaded again, async workers started or stopped,
    with the metric and value that caused it."""

    __tablename__ = "scaling_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(200), index=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(40))  # scale-out, scale-in, unload, cold-start, ...
    before: Mapped[int] = mapped_column(Integer)
    after: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str | None] = mapped_column(String(60), nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(Text)


class UserRow(Base):
    """A Studio user (migration 0012): a name, a role and, when set, a password's scrypt hash."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)


class UserTokenRow(Base):
    """A secret that signs a user in (migration 0012): a browser session (``purpose`` "session",
    with its CSRF token), an API token for scripts ("token"), or a one-time login link
    ("login"). Only the secret's SHA-256 is kept."""

    __tablename__ = "user_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    csrf: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditEventRow(Base):
    """One state change made through Studio (migration 0012): who, when, what, on which record,
    why, and whether it succeeded."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))  # ok, refused, failed
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class LabelingJobRow(Base):
    """A labelling job (migration 0013): what is labelled (a data set version's rows, or an
    endpoint's predictions under human review), the task and its label set, how many annotators
    answer each item, and the automated-labelling settings."""

    __tablename__ = "labeling_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # labeling: items labelled from scratch; verification: consolidated labels given a second
    # look; review: an endpoint's low-confidence predictions (human review).
    kind: Mapped[str] = mapped_column(String(20))
    task: Mapped[str] = mapped_column(String(20))
    labels: Mapped[list] = mapped_column(JSON)
    dataset: Mapped[str | None] = mapped_column(String(200), nullable=True)
    dataset_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The columns an annotator is shown, and the one holding the text or image labelled.
    columns: Mapped[list] = mapped_column(JSON)
    content: Mapped[str | None] = mapped_column(String(200), nullable=True)
    annotators_per_item: Mapped[int] = mapped_column(Integer)
    instructions: Mapped[str] = mapped_column(Text, default="")
    parent: Mapped[str | None] = mapped_column(String(100), nullable=True)
    endpoint: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20))  # InProgress, Completed, Stopped
    output: Mapped[str | None] = mapped_column(String(40), nullable=True)  # data set version id
    created_at: Mapped[datetime] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(String(200))


class LabelingItemRow(Base):
    """One item of a labelling job (migration 0013): what is shown, any label under
    verification or prediction under review (``prior``), and, once labelled, the label with its
    confidence and method (human, consolidated, automatic)."""

    __tablename__ = "labeling_items"
    __table_args__ = (
        UniqueConstraint("job_id", "item", name="uq_labeling_item"),
        # The next item an annotator gets: open items of a job, fewest answers, then priority.
        Index("ix_labeling_items_next", "job_id", "status", "answers", "priority"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("labeling_jobs.id"))
    item: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict] = mapped_column(JSON)
    prior: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # open, labeled
    # Human answers given (a count kept here so the next-item query needs no join).
    answers: Mapped[int] = mapped_column(Integer, default=0)
    # Lower goes first: the position for a plain job, the model's confidence under active learning.
    priority: Mapped[float] = mapped_column(Float)
    label: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # {"value": ...}
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    method: Mapped[str | None] = mapped_column(String(20), nullable=True)
    updated_at: Mapped[datetime]


class LabelingTaskRow(Base):
    """One item given to one annotator (migration 0013): when it was handed out and, once
    answered, the answer. An annotator gets an item at most once (the unique key)."""

    __tablename__ = "labeling_tasks"
    __table_args__ = (
        UniqueConstraint("job_id", "item", "annotator", name="uq_labeling_task"),
        Index("ix_labeling_tasks_annotator", "job_id", "annotator"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("labeling_jobs.id"))
    item: Mapped[str] = mapped_column(String(100))
    annotator: Mapped[str] = mapped_column(String(100))
    assigned_at: Mapped[datetime]
    answer: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # {"value": ...}
    answered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)


class FeatureGroupRow(Base):
    """A feature group (migration 0014): its record id and event time columns, its schema
    (column name to kiln type), whether it keeps an online store, and the TTL of online records
    (counted from their event time)."""

    __tablename__ = "feature_groups"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    record_id: Mapped[str] = mapped_column(String(200))
    event_time: Mapped[str] = mapped_column(String(200))
    schema: Mapped[dict] = mapped_column(JSON)  # {"customer_id": "int64", "ts": "timestamp"...}
    online: Mapped[bool] = mapped_column(default=False)
    ttl_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class FeatureIngestRow(Base):
    """One ingest into a feature group's offline store (migration 0014): one append-only Parquet
    file (by digest), recorded only once the file is stored. ``write_time`` is the time each of
    its rows carries; it increases strictly within a group, so it orders ingests."""

    __tablename__ = "feature_ingests"
    __table_args__ = (Index("ix_feature_ingests_group_time", "group_id", "write_time"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("feature_groups.id"))
    digest: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(Text)
    write_time: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
