"""Partitions: one per export file, one per account (`<platform>:<author>`), and account x
optimizer for tuning."""

import dagster as dg

from reer_pipeline.optimize.tune import OPTIMIZERS
from reer_pipeline.platforms import Account

export_partitions = dg.DynamicPartitionsDefinition(name="export_files")
account_partitions = dg.DynamicPartitionsDefinition(name="accounts")
tuning_partitions = dg.MultiPartitionsDefinition(
    {"account": account_partitions, "optimizer": dg.StaticPartitionsDefinition(list(OPTIMIZERS))}
)


def account_of(context: dg.AssetExecutionContext) -> Account:
    """The account of this run's partition (single or account x optimizer)."""
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        return Account.parse(key.keys_by_dimension["account"])
    return Account.parse(key)
