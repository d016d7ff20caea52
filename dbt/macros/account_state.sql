{#- What an account was at one snapshot of int_reference_date: lifecycle, retention, revenue, payments, support,
    sales and engagement. account_features shows it at the current snapshot, account_state_at_cutoff at the
    backtest's cutoff; both select these columns over the joins of account_state_joins.
    lifecycle: customer (active subscription, or a won deal where the account has no billing), churned (every
    subscription ended), prospect (neither). -#}
{% macro account_state_columns() -%}
case
    when ret.is_active then 'customer'
    when ret.is_churned then 'churned'
    else 'prospect'
end as lifecycle,
ret.customer_since,
ret.is_active,
coalesce(ret.is_churned, false) as is_churned,
ret.churned_at,
ret.tenure_months,
ret.months_to_churn,
coalesce(rev.current_mrr, 0) as current_mrr,
coalesce(rev.current_arr, 0) as current_arr,
coalesce(rev.mrr_12m_ago, 0) as mrr_12m_ago,
coalesce(rev.lifetime_paid_revenue, 0) as lifetime_paid_revenue,
coalesce(rev.paid_revenue_12m, 0) as paid_revenue_12m,
coalesce(rev.expansion_mrr, 0) as expansion_mrr,
coalesce(rev.expansion_revenue, 0) as expansion_revenue,
rev.revenue_growth_12m,
rev.net_revenue_retention_12m,
coalesce(rev.subscriptions, 0) as subscriptions,
coalesce(pay.invoices, 0) as invoices,
pay.paid_share,
coalesce(pay.uncollectible_invoices, 0) as uncollectible_invoices,
coalesce(pay.overdue_invoices, 0) as overdue_invoices,
pay.avg_days_to_pay,
coalesce(sup.tickets, 0) as tickets,
coalesce(sup.tickets_per_month, 0) as tickets_per_month,
sup.urgent_share,
sup.avg_csat,
sup.avg_hours_to_solve,
coalesce(sal.won_deals, 0) as won_deals,
coalesce(sal.lost_deals, 0) as lost_deals,
sal.win_rate,
coalesce(sal.won_amount, 0) as won_amount,
coalesce(sal.expansion_won_amount, 0) as expansion_won_amount,
sal.avg_sales_cycle_days,
sal.first_won_date,
sal.first_win_lead_source,
sal.last_closed_at,
coalesce(sal.open_opportunities, 0) as open_opportunities,
coalesce(sal.open_pipeline, 0) as open_pipeline,
coalesce(eng.activities_30d, 0) as activities_30d,
coalesce(eng.activities_90d, 0) as activities_90d,
coalesce(eng.email_90d, 0) as email_90d,
coalesce(eng.call_90d, 0) as call_90d,
coalesce(eng.meeting_90d, 0) as meeting_90d,
coalesce(eng.web_visit_90d, 0) as web_visit_90d,
coalesce(eng.content_90d, 0) as content_90d,
coalesce(eng.event_90d, 0) as event_90d,
coalesce(eng.other_90d, 0) as other_90d,
eng.last_activity_at,
eng.days_since_last_activity,
coalesce(eng.engagement_points, 0) as engagement_points,
coalesce(eng.contacts, 0) as contacts,
coalesce(eng.executive_contacts, 0) as executive_contacts,
coalesce(eng.senior_contacts, 0) as senior_contacts
{%- endmacro %}

{#- The intermediate models at `snapshot`, joined to the account `account_id` (aliases ret, rev, pay, sup, sal,
    eng). -#}
{% macro account_state_joins(account_id, snapshot) -%}
{%- for alias, model in [('ret', 'int_account_retention'), ('rev', 'int_account_revenue'),
                         ('pay', 'int_account_payments'), ('sup', 'int_account_support'),
                         ('sal', 'int_account_sales'), ('eng', 'int_account_engagement')] %}
left join {{ ref(model) }} as {{ alias }} on {{ alias }}.account_id = {{ account_id }} and {{ alias }}.snapshot = '{{ snapshot }}'
{%- endfor %}
{%- endmacro %}
