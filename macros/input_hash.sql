{#
    The filter of an incremental mart that keeps, per row, input_hash: a fingerprint of
    what the row was computed from (exp_train__sft, exp_mongo__instructions_qa).

    where_input_changed(relation, key): a WHERE clause keeping the rows of `relation` whose
    (key, input_hash) is not stored in {{ this }}, i.e. new rows and rows whose inputs
    changed. Empty on a full build, and on a table from before the mart was incremental
    (no input_hash column to compare): every row is computed then.
#}
{% macro where_input_changed(relation, key) -%}
    {%- set stored = adapter.get_columns_in_relation(this) | map(attribute='name') | list
        if is_incremental() else [] -%}
    {%- if 'input_hash' in stored %}
    where not exists (
        select 1
        from {{ this }} as done
        where done.{{ key }} = {{ relation }}.{{ key }}
            and done.input_hash = {{ relation }}.input_hash
    )
    {%- endif %}
{%- endmacro %}
