"""What a training run decided, kept with the model it trained: typed, so that the assets,
the benchmark and a reader of ``manifest.json`` name the same fields (format 1 kept them in a
free-form ``extra`` dict, still read by ``TrainingFacts.from_extra``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class HolidayFacts:
    """The public holidays the models saw: the ``holidays`` library's place, and how many days
    (with those a ``holiday`` column marked) over the data's years and three after."""

    country: str | None = None
    subdiv: str | None = None
    days: int = 0


@dataclass(frozen=True)
class ValidationFacts:
    """How the candidates were scored: weekly origins over up to ``days`` of training,
    ``refits`` blocks of origins, ``horizon`` days ahead; whether the global model was tried."""

    days: int = 0
    refits: int = 0
    horizon: int = 0
    candidates: tuple[str, ...] = ()
    global_model: bool = False


@dataclass(frozen=True)
class TrainingFacts:
    """The choices of one training run that are not a per-meter model: temperature mode,
    holidays, validation plan, the global model's parameters and tuning table, its blend
    weight (0: not blended) with the score of each weight tried, the interval quantiles and
    the CPU seconds of validation and of the final refit."""

    temperature: str = "none"
    holidays: HolidayFacts = field(default_factory=HolidayFacts)
    validation: ValidationFacts = field(default_factory=ValidationFacts)
    combination: tuple[str, ...] = ()
    gbm_params: dict = field(default_factory=dict)
    tuning: tuple[dict, ...] = ()
    blend_weight: float = 0.0
    blend_scores: dict[str, float] = field(default_factory=dict)
    interval_quantiles: dict[str, float] = field(default_factory=dict)
    validation_cpu_seconds: float = 0.0
    refit_cpu_seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainingFacts:
        data = dict(data)
        validation = dict(data.pop("validation", None) or {})
        validation["candidates"] = tuple(validation.get("candidates", ()))
        return cls(
            holidays=HolidayFacts(**(data.pop("holidays", None) or {})),
            validation=ValidationFacts(**validation),
            combination=tuple(data.pop("combination", ())),
            tuning=tuple(data.pop("tuning", ())),
            **data,
        )

    @classmethod
    def from_extra(cls, extra: dict) -> TrainingFacts:
        """The facts of a format-1 artifact, from its ``extra`` dict (keys a version did not
        write take their defaults)."""
        blend = extra.get("blend") or {}
        return cls.from_dict(
            {
                "temperature": extra.get("temperature", "none"),
                "holidays": extra.get("holidays") or {},
                "validation": extra.get("validation") or {},
                "combination": extra.get("combination", ()),
                "gbm_params": extra.get("gbm_params") or {},
                "tuning": extra.get("tuning", ()),
                "blend_weight": float(blend.get("global_weight", 0.0)),
                "blend_scores": blend.get("scores") or {},
                "interval_quantiles": extra.get("interval_quantiles") or {},
                "validation_cpu_seconds": float(extra.get("validation_cpu_seconds", 0.0)),
                "refit_cpu_seconds": float(extra.get("refit_cpu_seconds", 0.0)),
            }
        )
