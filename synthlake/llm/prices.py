"""The price table (``seeds/llm_prices.csv``) that turns tokens into estimated dollars.

The same CSV is a dbt seed, so the ``llm_calls`` mart and the runner's budget read the
same numbers. A row's model may be ``*`` (every model of that provider: local models cost
nothing). Prices are public list prices copied by hand: estimates, not invoices.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from synthlake.errors import SettingsError

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

PRICES_FILE = Path("seeds") / "llm_prices.csv"
# Batch jobs are billed at half the list price by both providers (their pricing pages);
# one factor per provider rather than a CSV column, since it applies to every model.
BATCH_DISCOUNT = {"openai": 0.5, "gemini": 0.5}
_COLUMNS = ("provider", "model", "usd_per_1m_input_tokens", "usd_per_1m_output_tokens")


@dataclass(frozen=True, slots=True)
class Price:
    usd_per_1m_input_tokens: float
    usd_per_1m_output_tokens: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (
            tokens_in * self.usd_per_1m_input_tokens + tokens_out * self.usd_per_1m_output_tokens
        ) / 1_000_000


@dataclass(slots=True)
class PriceTable:
    prices: dict[tuple[str, str], Price] = field(default_factory=dict)
    source: str = "(built in)"
    _warned: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path) -> PriceTable:
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise SettingsError(f"{path}: missing column(s) {', '.join(missing)}")
                prices = {}
                for line, row in enumerate(reader, start=2):
                    try:
                        price = Price(
                            float(row["usd_per_1m_input_tokens"]),
                            float(row["usd_per_1m_output_tokens"]),
                        )
                    except (TypeError, ValueError) as exc:
                        raise SettingsError(f"{path}:{line}: bad price ({exc})") from None
                    prices[(row["provider"].strip(), row["model"].strip())] = price
        except FileNotFoundError:
            log.warning("no price table at %s: only local models are priced (at 0)", path)
            return cls.local_only()
        return cls(prices=prices, source=str(path))

    @classmethod
    def from_settings(cls, settings: Settings) -> PriceTable:
        return cls.load(Path(settings.project_dir) / PRICES_FILE)

    @classmethod
    def local_only(cls) -> PriceTable:
        return cls(prices={("local", "*"): Price(0.0, 0.0)})

    def price(self, provider: str, model: str) -> Price | None:
        model = model.removeprefix("models/")
        found = self.prices.get((provider, model)) or self.prices.get((provider, "*"))
        if found is None and (provider, model) not in self._warned:
            self._warned.add((provider, model))
            log.warning(
                "no price for %s:%s in %s: its cost is unknown (add a row to price it)",
                provider,
                model,
                self.source,
            )
        return found

    def cost(
        self, provider: str, model: str, tokens_in: int, tokens_out: int, *, batch: bool = False
    ) -> float | None:
        """Dollars for these tokens; ``batch``: sent through the provider's batch API."""
        price = self.price(provider, model)
        if price is None:
            return None
        factor = BATCH_DISCOUNT.get(provider, 1.0) if batch else 1.0
        return price.cost(tokens_in, tokens_out) * factor
