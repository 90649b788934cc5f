{#
    The seeded train/validation/eval split of exp_train__sft (export/training.py).

    training_split_bucket: a number in [0, 1) from md5(seed || ':' || key), the first 32
    bits of the digest over 2^32. It depends on the row's own key and the seed only, never
    on the other rows, so a row keeps its split when rows are added or removed.

    training_split: eval below eval_fraction, validation below eval_fraction +
    validation_fraction, train above. Arguments are SQL expressions (columns of
    int_training_thresholds), not constants.
#}
{% macro training_split_bucket(key, seed) -%}
    (('0x' || left(md5(cast({{ seed }} as varchar) || ':' || {{ key }}), 8))::ubigint
        / 4294967296.0)
{%- endmacro %}

{% macro training_split(bucket, eval_fraction, validation_fraction) -%}
    case
        when {{ bucket }} < {{ eval_fraction }} then 'eval'
        when {{ bucket }} < {{ eval_fraction }} + {{ validation_fraction }} then 'validation'
        else 'train'
    end
{%- endmacro %}
