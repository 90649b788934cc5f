with

source as (

    select * from {{ source('ingest', 'raw_rejects') }}

),

renamed as (

    select
        reject_id,
        domain,
        source,
        locator,
        reason,
        detail,
        raw,
        ingested_at,
        run_id,

    from source

)

select * from renamed
