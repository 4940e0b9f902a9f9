{#- The provider measures of mart_provider_results with their kind and Danish label, for reports. -#}
with

catalogue as (

    {%- for measure in provider_measures() %}
    select
        {{ loop.index }} as sort_order,
        '{{ measure.name }}' as measure,
        '{{ measure.kind }}' as measure_kind,
        '{{ measure.label_da | replace("'", "''") }}' as label_da,
        '{{ measure.description | replace("'", "''") }}' as description
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

)

select * from catalogue
