{#
    dbt-duckdb builds an incremental Python model through a `<model>__dbt_tmp<timestamp>`
    table and leaves it in the warehouse: one more per incremental build. This on-run-end
    hook (dbt_project.yml) drops every such relation once the run is over, whether its
    nodes passed or not; no node is running then, so none is still needed.
#}
{% macro drop_dbt_tmp_relations() %}
    {% if execute %}
        {% set leftovers = run_query(
            "select table_schema, table_name, table_type from information_schema.tables "
            ~ "where table_catalog = current_database() and contains(table_name, '__dbt_tmp')"
        ) %}
        {% for row in leftovers.rows %}
            {% set kind = "view" if row[2] == "VIEW" else "table" %}
            {% do run_query(
                "drop " ~ kind ~ " if exists "
                ~ adapter.quote(row[0]) ~ "." ~ adapter.quote(row[1])
            ) %}
            {% do log("dropped leftover " ~ row[0] ~ "." ~ row[1], info=false) %}
        {% endfor %}
    {% endif %}
    select 1
{% endmacro %}
