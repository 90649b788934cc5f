-- A translation that did not pass every check must never carry the target language,
-- and one that passed must carry exactly it.
select translation_id, status, language, target_language
from {{ ref('int_instructions_translated') }}
where (status <> 'verified' and language is not null)
    or (status = 'verified' and language is distinct from target_language)
    or (status = 'verified' and len(reasons) > 0)
