"""DeepAR: a global autoregressive recurrent network with probabilistic forecasts (PyTorch).

After Salinas, Flunkert, Gasthaus & Januschowski, "DeepAR: Probabilistic forecasting with
autoregressive recurrent networks" (International Journal of Forecasting, 2020), as SageMaker's
DeepAR and GluonTS build it. One LSTM learns from every series. At each step it reads

* the target's lagged values (lags 1, 2, 3, one season and two seasons), divided by the
  series' scale (the mean absolute value of its context window: GluonTS's mean scaler);
* the known-in-advance covariates (standardised on the training panel) and calendar features
  of the step's time (hour, weekday, day of month, day of year, month, week of year);
* the logarithm of the scale, and embeddings of the series id and of each categorical static
  attribute (numeric static attributes enter standardised);

and outputs the parameters of a Student-t (default) or Gaussian distribution of the scaled
target. Training draws random windows of ``context_length + horizon`` steps and minimises the
negative log-likelihood of each step given the true previous values (teacher forcing) with Adam.
Forecasting runs the network over each series' last ``context_length`` values, then draws
``num_samples`` paths step by step, each step's sample fed back as the next step's lag
(ancestral sampling); the mean forecast is the paths' mean and the quantiles their quantiles.

PyTorch is the optional extra ``kiln[deepar]``; it is imported only when a DeepAR forecaster
is made, so kiln runs without it.
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pandas as pd

from kiln.errors import ConfigError
from kiln.forecasting._forecaster import Forecaster, Naive
from kiln.forecasting._panel import SERIES, STEP, TARGET, TIMESTAMP, Panel, quantile_column

__all__ = ["DISTRIBUTIONS", "DeepAR"]

DISTRIBUTIONS = ("student_t", "normal")
# Share of training windows whose series id (and categorical static values) are replaced by
# the "unknown" embedding, so a series first seen in a request gets a trained embedding.
UNKNOWN_RATE = 0.1
# Series forecast together: the batch is series × num_samples paths, kept to a few MB.
PREDICT_CHUNK = 128
CALENDAR_FEATURES = 6


def _torch():
    """The torch module, or a clear error saying how to install it."""
    try:
        import torch
    except ImportError:
        raise ConfigError(
            "The deepar forecaster needs PyTorch, which is not installed: "
            "pip install 'kiln[deepar]' (torch 2.13, CPU build). Or choose another algorithm "
            "(ets, theta, arima, lightgbm).",
            code="forecast.needs-torch",
            field="algorithm",
        ) from None
    return torch


def _calendar(times: pd.DatetimeIndex) -> np.ndarray:
    """Calendar features of these times, each in [-0.5, 0.5] (GluonTS's time features)."""
    times = pd.DatetimeIndex(times)
    return np.column_stack(
        [
            times.hour / 23.0 - 0.5,
            times.day_of_week / 6.0 - 0.5,
            (times.day - 1) / 30.0 - 0.5,
            (times.day_of_year - 1) / 365.0 - 0.5,
            (times.month - 1) / 11.0 - 0.5,
            (times.isocalendar().week.to_numpy(dtype=float) - 1) / 52.0 - 0.5,
        ]
    ).astype(np.float32)


class DeepAR(Forecaster):
    """DeepAR (see the module docstring); ``history`` holds the mean training loss per epoch."""

    name = "deepar"
    uses_covariates = True
    is_global = True

    def __init__(
        self,
        *,
        horizon: int,
        quantiles: list[float],
        season_length: int,
        seed: int = 0,
        threads: int = 1,
        epochs: int = 30,
        batches_per_epoch: int = 50,
        batch_size: int = 64,
        hidden_size: int = 40,
        layers: int = 2,
        context_length: int | None = None,
        learning_rate: float = 1e-3,
        dropout: float = 0.1,
        num_samples: int = 100,
        time_limit: float | None = None,
        distribution: str = "student_t",
    ):
        _torch()
        settings = {
            "epochs": epochs,
            "batches_per_epoch": batches_per_epoch,
            "batch_size": batch_size,
            "hidden_size": hidden_size,
            "layers": layers,
            "context_length": context_length,
            "learning_rate": learning_rate,
            "dropout": dropout,
            "num_samples": num_samples,
            "time_limit": time_limit,
            "distribution": distribution,
        }
        _check_settings(settings)
        super().__init__(
            horizon=horizon,
            quantiles=quantiles,
            season_length=season_length,
            seed=seed,
            threads=threads,
            **settings,
        )
        self.epochs = epochs
        self.batches_per_epoch = batches_per_epoch
        self.batch_size = batch_size
        self.hidden_size = hidden_size
        self.layers = layers
        self.context_length = context_length or 2 * max(horizon, season_length)
        self.learning_rate = learning_rate
        self.dropout = dropout
        self.num_samples = num_samples
        self.time_limit = time_limit
        self.distribution = distribution
        m = season_length
        self.lags = sorted({1, 2, 3, m, 2 * m}) if m > 1 else [1, 2, 3]
        self.history: list[float] = []
        self.fit_seconds = 0.0
        self._state: bytes | None = None
        self._net = None

    # --- what the network reads ------------------------------------------------------------

    def _encode_static(self, panel: Panel, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(category indices (series × categorical columns), numeric values standardised)
        of these series; index 0 is "unknown" (a value or series not seen in training)."""
        cats = np.zeros((len(ids), 1 + len(self._categorical)), dtype=np.int64)
        cats[:, 0] = [self._id_index.get(key, 0) for key in ids]
        reals = np.zeros((len(ids), len(self._numeric)), dtype=np.float32)
        static = panel.static
        for j, column in enumerate(self._categorical):
            codes = self._categories[column]
            values = static[column].reindex(ids) if len(static) else pd.Series(index=ids)
            cats[:, j + 1] = [codes.get(_category_key(v), 0) for v in values]
        for j, column in enumerate(self._numeric):
            values = static[column].reindex(ids) if len(static) else pd.Series(index=ids)
            mean, sd = self._numeric_stats[column]
            reals[:, j] = np.nan_to_num((values.to_numpy(dtype=float) - mean) / sd)
        return cats, reals

    def _time_features(self, frame: pd.DataFrame) -> np.ndarray:
        """Covariates (standardised) and calendar features of each row of ``frame``."""
        parts = [_calendar(frame[TIMESTAMP])]
        if self._covariates:
            values = frame[self._covariates].to_numpy(dtype=np.float32)
            parts.insert(0, (values - self._cov_mean) / self._cov_sd)
        return np.concatenate(parts, axis=1).astype(np.float32)

    def _learn_encodings(self, panel: Panel) -> None:
        """Learn the covariates' standardisation, the series ids' and static values' indices."""
        self._covariates = list(panel.covariates)
        if self._covariates:
            values = panel.frame[self._covariates].to_numpy(dtype=np.float32)
            self._cov_mean = values.mean(axis=0)
            sd = values.std(axis=0)
            self._cov_sd = np.where(sd > 0, sd, 1.0).astype(np.float32)
        ids = panel.ids()
        self._id_index = {key: i + 1 for i, key in enumerate(ids)}
        static = panel.static.reindex(ids) if len(panel.static) else pd.DataFrame(index=ids)
        self._categorical = [
            c
            for c in static.columns
            if not pd.api.types.is_numeric_dtype(static[c]) or pd.api.types.is_bool_dtype(static[c])
        ]
        self._numeric = [c for c in static.columns if c not in self._categorical]
        self._categories = {
            c: {key: i + 1 for i, key in enumerate(dict.fromkeys(map(_category_key, static[c])))}
            for c in self._categorical
        }
        self._numeric_stats = {}
        for c in self._numeric:
            values = static[c].to_numpy(dtype=float)
            sd = float(np.nanstd(values))
            self._numeric_stats[c] = (float(np.nanmean(values)), sd if sd > 0 else 1.0)

    # --- the network -----------------------------------------------------------------------

    def _build(self):
        torch = _torch()
        nn = torch.nn
        cardinalities = [len(self._id_index) + 1] + [
            len(self._categories[c]) + 1 for c in self._categorical
        ]
        embeddings = nn.ModuleList(
            nn.Embedding(n, min(16, (n + 1) // 2 + 1)) for n in cardinalities
        )
        width = (
            len(self.lags)
            + len(self._covariates)
            + CALENDAR_FEATURES
            + len(self._numeric)
            + 1  # log scale
            + sum(e.embedding_dim for e in embeddings)
        )
        return nn.ModuleDict(
            {
                "embeddings": embeddings,
                "lstm": nn.LSTM(
                    width,
                    self.hidden_size,
                    num_layers=self.layers,
                    dropout=self.dropout if self.layers > 1 else 0.0,
                    batch_first=True,
                ),
                "head": nn.Linear(self.hidden_size, 3),
            }
        )

    def _network(self):
        """The network, rebuilt from its saved weights after unpickling."""
        if self._net is None:
            torch = _torch()
            self._net = self._build()
            self._net.load_state_dict(torch.load(io.BytesIO(self._state), weights_only=True))
            self._net.eval()
        return self._net

    def _step_inputs(self, torch, lags, time_features, cats, reals, scale):
        """The network's inputs (batch × steps × width) from lagged scaled targets (b × t × l),
        time features (b × t × f), static categories (b × k), static reals (b × r) and the
        scale (b)."""
        net = self._net
        steps = lags.shape[1]
        static = [e(cats[:, j]) for j, e in enumerate(net["embeddings"])]
        static += [reals, torch.log1p(scale)[:, None]]
        static = torch.cat(static, dim=1)[:, None, :].expand(-1, steps, -1)
        return torch.cat([lags, time_features, static], dim=2)

    def _distribution(self, torch, output):
        """The predicted distribution of the scaled target from the head's output."""
        softplus = torch.nn.functional.softplus
        loc = output[..., 0]
        scale = softplus(output[..., 1]) + 1e-4
        if self.distribution == "normal":
            return torch.distributions.Normal(loc, scale)
        return torch.distributions.StudentT(2.0 + softplus(output[..., 2]), loc, scale)

    # --- training --------------------------------------------------------------------------

    def _fit(self, panel: Panel) -> None:
        if len(panel.frame) == 0:
            return  # every series is too short: the naive baseline forecasts them all
        torch = _torch()
        torch.set_num_threads(self.threads)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        started = time.perf_counter()
        self._learn_encodings(panel)
        self._net = self._build()
        self._net.train()

        window = self.context_length + self.horizon
        pad = window + max(self.lags)
        frame = panel.frame
        ids = panel.ids()
        number = pd.Categorical(frame[SERIES], categories=ids).codes
        lengths = np.bincount(number, minlength=len(ids))
        # Every series left-padded with zeros (unobserved) and laid end to end, so a batch of
        # windows is one fancy index into flat arrays.
        starts = np.concatenate([[0], np.cumsum(lengths + pad)[:-1]]) + pad
        at = starts[number] + frame.groupby(SERIES, sort=False).cumcount().to_numpy()
        total = int((lengths + pad).sum())
        y = np.zeros(total, dtype=np.float32)
        observed = np.zeros(total, dtype=np.float32)
        features = np.zeros((total, len(self._covariates) + CALENDAR_FEATURES), dtype=np.float32)
        # An empty target inside a series is unobserved: a zero no loss is counted on.
        values = frame[TARGET].to_numpy(dtype=np.float32)
        y[at] = np.nan_to_num(values)
        observed[at] = np.isfinite(values)
        features[at] = self._time_features(frame)
        cats, reals = self._encode_static(panel, ids)
        lag_offsets = np.asarray(self.lags)

        optimiser = torch.optim.Adam(self._net.parameters(), lr=self.learning_rate)
        deadline = None if self.time_limit is None else started + self.time_limit
        self.history = []
        for _epoch in range(self.epochs):
            losses = []
            for _batch in range(self.batches_per_epoch):
                which = rng.integers(0, len(ids), self.batch_size)
                # The window's last step: anywhere from the second value to the series' end.
                ends = rng.integers(np.minimum(2, lengths[which]), lengths[which] + 1)
                positions = (starts[which] + ends - window)[:, None] + np.arange(window)
                window_y = y[positions]
                seen = observed[positions]
                context = slice(0, self.context_length)
                scale = np.abs(window_y[:, context] * seen[:, context]).sum(axis=1) / np.maximum(
                    seen[:, context].sum(axis=1), 1
                )
                scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
                lags = y[positions[:, :, None] - lag_offsets] / scale[:, None, None]
                batch_cats = cats[which].copy()
                batch_cats[rng.random(batch_cats.shape) < UNKNOWN_RATE] = 0
                inputs = self._step_inputs(
                    torch,
                    torch.from_numpy(lags),
                    torch.from_numpy(features[positions]),
                    torch.from_numpy(batch_cats),
                    torch.from_numpy(reals[which]),
                    torch.from_numpy(scale),
                )
                output, _state = self._net["lstm"](inputs)
                distribution = self._distribution(torch, self._net["head"](output))
                target = torch.from_numpy(window_y / scale[:, None])
                mask = torch.from_numpy(seen)
                loss = -(distribution.log_prob(target) * mask).sum() / mask.sum().clamp(min=1)
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self._net.parameters(), 10.0)
                optimiser.step()
                losses.append(loss.item())
                if deadline is not None and time.perf_counter() > deadline:
                    break
            self.history.append(round(float(np.mean(losses)), 6))
            if deadline is not None and time.perf_counter() > deadline:
                break
        self._net.eval()
        buffer = io.BytesIO()
        torch.save(self._net.state_dict(), buffer)
        self._state = buffer.getvalue()
        self.fit_seconds = round(time.perf_counter() - started, 3)

    # --- forecasting -----------------------------------------------------------------------

    def _predict(self, panel: Panel, future: pd.DataFrame) -> pd.DataFrame:
        if self._state is None:
            # Trained on no series (all were too short): what short series get, for all.
            naive = Naive(
                horizon=self.horizon, quantiles=self.quantiles, season_length=self.season_length
            )
            return naive._predict(panel, future)
        torch = _torch()
        torch.set_num_threads(self.threads)
        self._network()
        wanted = list(dict.fromkeys(future[SERIES]))
        steps = int(future[STEP].max())
        y, seen, past, ahead = self._inputs(panel.subset(wanted), future, wanted, steps)
        cats, reals = self._encode_static(panel, wanted)
        # One generator for the whole call: the same seed and request give the same paths.
        rng = np.random.default_rng(self.seed)
        means = np.zeros((len(wanted), steps))
        levels = np.zeros((len(self.quantiles), len(wanted), steps))
        for first in range(0, len(wanted), PREDICT_CHUNK):
            rows = slice(first, first + PREDICT_CHUNK)
            samples = self._sample_paths(
                torch, y[rows], seen[rows], past[rows], ahead[rows], cats[rows], reals[rows], rng
            )  # series × samples × steps
            means[rows] = samples.mean(axis=1)
            levels[:, rows] = np.quantile(samples, self.quantiles, axis=1)
        out = future.copy()
        which = pd.Categorical(future[SERIES], categories=wanted).codes
        k = future[STEP].to_numpy(dtype=int) - 1
        out["mean"] = means[which, k]
        for j, q in enumerate(self.quantiles):
            out[quantile_column(q)] = levels[j, which, k]
        return out

    def _inputs(
        self, panel: Panel, future: pd.DataFrame, wanted: list[str], steps: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What forecasting the ``wanted`` series reads: their last values, left-padded with
        zeros (series × (context + largest lag + steps), the steps to be sampled into), which
        of the context's values are observed, the context's and the future steps' time
        features. Covariates of steps the future does not hold carry on from the nearest."""
        context, width = self.context_length, self.context_length + max(self.lags)
        frame = panel.frame
        number = pd.Categorical(frame[SERIES], categories=wanted).codes
        back = frame.groupby(SERIES, sort=False).cumcount(ascending=False).to_numpy()
        n, columns = len(wanted), len(self._covariates) + CALENDAR_FEATURES
        y = np.zeros((n, width + steps), dtype=np.float32)
        near = back < width
        values = frame[TARGET].to_numpy(dtype=np.float32)
        y[number[near], width - 1 - back[near]] = np.nan_to_num(values[near])
        seen = np.zeros((n, context), dtype=np.float32)
        past = np.zeros((n, context, columns), dtype=np.float32)
        near = back < context
        seen[number[near], context - 1 - back[near]] = np.isfinite(values[near])
        past[number[near], context - 1 - back[near]] = self._time_features(frame[near])
        last = pd.DatetimeIndex(frame.loc[back == 0, TIMESTAMP].to_numpy())
        last_number = number[back == 0]
        offset = panel.offset
        grid = pd.DataFrame(
            {
                SERIES: np.repeat(np.asarray(wanted, dtype=object)[last_number], steps),
                STEP: np.tile(np.arange(1, steps + 1), n),
                TIMESTAMP: np.stack([last + offset * k for k in range(1, steps + 1)], axis=1)
                .reshape(-1)
                .astype("datetime64[ns]"),
                "number": np.repeat(last_number, steps),
            }
        )
        if self._covariates:
            given = future[[SERIES, STEP, *self._covariates]].drop_duplicates([SERIES, STEP])
            grid = grid.merge(given.astype({SERIES: object}), on=[SERIES, STEP], how="left")
            filled = grid.groupby("number")[self._covariates]
            grid[self._covariates] = filled.ffill().fillna(filled.bfill())
        ahead = np.zeros((n, steps, columns), dtype=np.float32)
        ahead[grid["number"].to_numpy(), grid[STEP].to_numpy() - 1] = self._time_features(grid)
        return y, seen, past, ahead

    def _sample_paths(self, torch, y, seen, past, ahead, cats, reals, rng) -> np.ndarray:
        """Sample paths (series × num_samples × steps) in the series' units, from the inputs
        :meth:`_inputs` made for these series."""
        n, paths, steps = len(y), self.num_samples, ahead.shape[1]
        context, max_lag = self.context_length, max(self.lags)
        width = context + max_lag
        known = y[:, max_lag:width]
        scale = np.abs(known * seen).sum(axis=1) / np.maximum(seen.sum(axis=1), 1)
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        lag_offsets = np.asarray(self.lags)
        net = self._net
        with torch.no_grad():
            positions = max_lag + np.arange(context)
            lags = y[:, positions[:, None] - lag_offsets] / scale[:, None, None]
            inputs = self._step_inputs(
                torch,
                torch.from_numpy(lags),
                torch.from_numpy(past),
                torch.from_numpy(cats),
                torch.from_numpy(reals),
                torch.from_numpy(scale),
            )
            _output, state = net["lstm"](inputs)
            # Every series' state, copied for each of its paths.
            state = tuple(s.repeat_interleave(paths, dim=1) for s in state)
            path_y = np.repeat(y, paths, axis=0)
            path_scale = np.repeat(scale, paths)
            path_cats = torch.from_numpy(np.repeat(cats, paths, axis=0))
            path_reals = torch.from_numpy(np.repeat(reals, paths, axis=0))
            scale_tensor = torch.from_numpy(path_scale)
            for k in range(steps):
                position = width + k
                step_lags = path_y[:, position - lag_offsets] / path_scale[:, None]
                inputs = self._step_inputs(
                    torch,
                    torch.from_numpy(step_lags[:, None, :]),
                    torch.from_numpy(np.repeat(ahead[:, k : k + 1], paths, axis=0)),
                    path_cats,
                    path_reals,
                    scale_tensor,
                )
                output, state = net["lstm"](inputs, state)
                distribution = self._distribution(torch, net["head"](output[:, 0]))
                path_y[:, position] = self._draw(distribution, rng) * path_scale
        return path_y[:, width:].reshape(n, paths, steps).astype(float)

    def _draw(self, distribution, rng: np.random.Generator) -> np.ndarray:
        """One sample of each of the batch's distributions, drawn with numpy's generator (torch's
        samplers take no generator, and a seeded generator makes forecasts reproducible)."""
        loc = distribution.loc.numpy().astype(np.float64)
        scale = distribution.scale.numpy().astype(np.float64)
        if self.distribution == "normal":
            noise = rng.standard_normal(loc.shape)
        else:
            noise = rng.standard_t(distribution.df.numpy().astype(np.float64))
        return (loc + scale * noise).astype(np.float32)

    # --- pickling --------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the live network: its weights travel as ``_state`` bytes."""
        state = dict(self.__dict__)
        state["_net"] = None
        return state

    def describe(self) -> dict:
        return {
            **super().describe(),
            "history": self.history,
            "fit_seconds": self.fit_seconds,
            "lags": self.lags,
            "context_length": self.context_length,
        }


def _category_key(value) -> str:
    """A static attribute's value as an embedding's key (missing values share one key)."""
    return "" if pd.isna(value) else str(value)


def _check_settings(settings: dict) -> None:
    """Refuse hyperparameters a network cannot be trained with."""
    whole = ("epochs", "batches_per_epoch", "batch_size", "hidden_size", "layers", "num_samples")
    for name in whole:
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(
                f"DeepAR's {name} must be a whole number, 1 or more; got {value!r}.",
                code="forecast.bad-hyperparameter",
                field=name,
            )
    context = settings["context_length"]
    if context is not None and (
        isinstance(context, bool) or not isinstance(context, int | np.integer) or context < 1
    ):
        raise ConfigError(
            f"DeepAR's context_length must be a whole number of steps, 1 or more (or left out "
            f"for twice the larger of the horizon and the season); got {context!r}.",
            code="forecast.bad-hyperparameter",
            field="context_length",
        )
    rate = settings["learning_rate"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
        raise ConfigError(
            f"DeepAR's learning_rate must be a number above 0; got {rate!r}.",
            code="forecast.bad-hyperparameter",
            field="learning_rate",
        )
    dropout = settings["dropout"]
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ConfigError(
            f"DeepAR's dropout must be a number from 0 up to (not including) 1; got {dropout!r}.",
            code="forecast.bad-hyperparameter",
            field="dropout",
        )
    limit = settings["time_limit"]
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0
    ):
        raise ConfigError(
            f"DeepAR's time_limit must be a number of seconds above 0; got {limit!r}.",
            code="forecast.bad-hyperparameter",
            field="time_limit",
        )
    if settings["distribution"] not in DISTRIBUTIONS:
        raise ConfigError(
            f"DeepAR's distribution {settings['distribution']!r} is not one of "
            f"{', '.join(DISTRIBUTIONS)}.",
            code="forecast.bad-hyperparameter",
            field="distribution",
        )
