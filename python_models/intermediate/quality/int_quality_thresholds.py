"""One row: the quality thresholds in force for this build, from synthlake's settings.

SQL models cannot read the settings (a TOML file, SYNTHLAKE_* variables); this table hands
them over, so the marts apply the same thresholds the user configured and the warehouse
records which ones a build used.
"""

from synthlake.quality.thresholds import thresholds_table
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="table")
    return thresholds_table(load_settings())
