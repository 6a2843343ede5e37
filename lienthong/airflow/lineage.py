"""OpenLineage for the sync tasks, through Airflow's OpenLineage provider.

The provider emits a START and a COMPLETE (or FAIL) event per task instance when a transport is configured
(`AIRFLOW__OPENLINEAGE__TRANSPORT`, see docs/operations.md). For a `sync_<stream>` task this extractor adds
what the run read and wrote:

- input: the agency service (namespace: its endpoint's scheme://host:port; name: `<source>/<stream>`) with
  the wire fields the contract reads (schema), the data source, and the records fetched (inputStatistics,
  dataQualityMetrics);
- output: the published dataset (namespace: the database, password-free; name: `ds_<dataset>`) with the
  contract's columns and their Vietnamese/English descriptions (schema), the rows changed
  (outputStatistics), the quality results (dataQualityAssertions: the failure rate against the contract's
  threshold, quarantined rows), and column lineage from the contract's mappings (wire fields -> column,
  with the transform).

`airflow_environ` registers it (`AIRFLOW__OPENLINEAGE__EXTRACTORS`); it reads the stream's summary from
the task's process (`tasks.LAST_SUMMARIES`: the listener forks to emit). Other `@task` tasks (report,
views) get no datasets from it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow.providers.openlineage.extractors.base import BaseExtractor, OperatorLineage

Lineage = OperatorLineage[Any, Any]


def _namespace(url: str) -> str:
    """scheme://host[:port] of a URL, without credentials (OpenLineage's naming for a service or database)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        return f"sqlite://{parts.path}"
    if scheme == "postgresql":
        scheme = "postgres"
    host = parts.hostname or "localhost"
    return f"{scheme}://{host}:{parts.port}" if parts.port else f"{scheme}://{host}"


def sync_lineage(source: str, stream: str, summary: dict[str, Any] | None, *, endpoint: str,
                 database_url: str) -> Lineage:
    """Inputs and outputs of one stream's sync; with the run's counts when its summary is known."""
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import (
        column_lineage_dataset,
        data_quality_assertions_dataset,
        data_quality_metrics_input_dataset,
        datasource_dataset,
        documentation_dataset,
        input_statistics_input_dataset,
        output_statistics_output_dataset,
        schema_dataset,
    )

    from schemas.contract import contract_for_stream

    contract = contract_for_stream(source, stream)
    in_ns, in_name = _namespace(endpoint), f"{source}/{stream}"
    wire = schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name=name, type=str(kind) if kind else None)
        for name, kind in _wire_fields(contract)])
    input_facets: dict[str, Any] = {
        "schema": wire,
        "datasource": datasource_dataset.DatasourceDatasetFacet(name=source, uri=endpoint),
    }
    in_stats: dict[str, Any] = {}
    out_facets: dict[str, Any] = {
        "schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=c.name, type=str(c.type), ordinal_position=i,
                description=f"{c.description.vi} / {c.description.en}")
            for i, c in enumerate(contract.columns, 1)]),
        "documentation": documentation_dataset.DocumentationDatasetFacet(
            description=f"{contract.description.vi} / {contract.description.en}"),
        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields={
            c.name: column_lineage_dataset.Fields(
                inputFields=[column_lineage_dataset.InputField(namespace=in_ns, name=in_name, field=f)
                             for f in c.source],
                transformationDescription=c.transform if c.transform != "step" else f"step {c.step}",
                transformationType="DIRECT" if c.transform == "copy" else "INDIRECT")
            for c in contract.columns if c.source}),
    }
    out_stats: dict[str, Any] = {}
    if summary:
        fetched, valid, quarantined = (int(summary.get(k) or 0) for k in ("fetched", "valid", "quarantined"))
        changed = sum(int(summary.get(k) or 0) for k in ("inserted", "updated", "deleted"))
        rate = quarantined / fetched if fetched else 0.0
        in_stats = {
            "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(rowCount=fetched),
            "dataQualityMetrics": data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                columnMetrics={}, rowCount=fetched),
        }
        out_stats = {"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=changed)}
        out_facets["dataQualityAssertions"] = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
            assertions=[
                data_quality_assertions_dataset.Assertion(
                    assertion="failure_rate_within_threshold", success=rate <= contract.failure_threshold,
                    expected=f"<= {contract.failure_threshold}", actual=f"{rate:.6f}"),
                data_quality_assertions_dataset.Assertion(
                    assertion="valid_plus_quarantined_equals_fetched", success=valid + quarantined == fetched,
                    expected=str(fetched), actual=str(valid + quarantined)),
            ])
    return OperatorLineage(
        inputs=[InputDataset(namespace=in_ns, name=in_name, facets=input_facets, inputFacets=in_stats)],
        outputs=[OutputDataset(namespace=_namespace(database_url), name=f"ds_{contract.dataset}",
                               facets=out_facets, outputFacets=out_stats)],
    )


def _wire_fields(contract: Any) -> list[tuple[str, Any]]:
    """The wire fields of the stream as the contract declares them, with their wire types."""
    return list(contract.source.fields.items())


class SyncStreamExtractor(BaseExtractor):
    """Lineage of the `sync_<stream>` tasks of the `lienthong_sync_<source>` DAGs."""

    @classmethod
    def get_operator_classnames(cls) -> list[str]:
        return ["_PythonDecoratedOperator"]

    def _stream(self) -> tuple[str, str] | None:
        dag_id, task_id = str(self.operator.dag_id), str(self.operator.task_id)
        if not (dag_id.startswith("lienthong_sync_") and task_id.startswith("sync_")):
            return None
        return dag_id.removeprefix("lienthong_sync_"), task_id.removeprefix("sync_")

    def _lineage(self, summary: dict[str, Any] | None) -> Lineage:
        from core.settings import load_settings
        from lienthong.airflow.registry import sources
        from lienthong.airflow.tasks import source_endpoint

        found = self._stream()
        if found is None:
            return OperatorLineage()
        source, stream = found
        endpoint = (summary or {}).get("endpoint") or next(
            source_endpoint(source, e.conn_id) for e in sources() if e.name == source)
        return sync_lineage(source, stream, summary, endpoint=str(endpoint),
                            database_url=load_settings().database_url)

    def _execute_extraction(self) -> Lineage:
        return self._lineage(None)  # START: what will be read and written

    def extract_on_complete(self, task_instance: Any) -> Lineage:
        from lienthong.airflow.tasks import LAST_SUMMARIES

        found = self._stream()
        return self._lineage(LAST_SUMMARIES.get(found) if found else None)
