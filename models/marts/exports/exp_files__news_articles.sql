-- The cleaned news articles as a file people can load anywhere (lake/exports/).
with

articles as (

    select * from {{ ref('stg_news__articles') }}

),

final as (

    select
        id,
        outlet,
        url,
        title,
        subtitle,
        author,
        published_at,
        tags,
        content,
        content_hash,
    from articles

)

select * from final
