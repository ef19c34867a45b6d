"""The declarative rule model as it appears in the TOML config."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rules.groups import GROUPS

Priority = Literal["low", "normal", "high", "critical"]


class TopicConfig(BaseModel):
    """One `[[topics]]` table: a topic of a ЦУР group and the words that reveal it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    group: str
    name: str = Field(min_length=1)
    organisation: str = Field(min_length=1)
    priority: Priority = "normal"
    sla: str | None = None
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    weight: float = Field(1.0, gt=0, le=100)

    @field_validator("group")
    @classmethod
    def _known_group(cls, value: str) -> str:
        if value not in GROUPS:
            msg = f"группа {value!r} не из рубрикатора ЦУР; допустимые: {', '.join(GROUPS)}"
            raise ValueError(msg)
        return value

    @field_validator("words", "phrases", "exclude")
    @classmethod
    def _no_blank_terms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for term in value:
            if not term.strip():
                msg = "пустая строка в списке слов"
                raise ValueError(msg)
        return value


class RulesConfig(BaseModel):
    """The `[rules]` table: thresholds and the noise vocabulary shared by all topics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_score: float = Field(1.0, ge=0)
    phrase_weight: float = Field(2.0, gt=0)
    noise_words: tuple[str, ...] = ()
    noise_phrases: tuple[str, ...] = ()
