-- Who did what to what, and when. Rows are only ever added.
create table audit_log (
    id         bigint generated always as identity primary key,
    actor      text not null,
    action     text not null,
    target     text not null,
    details    jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now()
);

create index audit_log_target_idx on audit_log (target, created_at);
