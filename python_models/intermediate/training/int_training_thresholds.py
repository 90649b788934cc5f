"""One row: the training-export settings in force for this build (``training_*``).

SQL models cannot read the settings (a TOML file, SYNTHLAKE_* variables); this table hands
them to ``exp_train__sft``, so the mart filters and splits with what the user configured
and the warehouse records which thresholds a build used.
"""

from synthlake.settings import load_settings
from synthlake.training import training_thresholds_table


def model(dbt, session):
    dbt.config(materialized="table")
    return training_thresholds_table(load_settings())
