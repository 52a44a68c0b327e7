alter table users drop column billing_revision;
drop table account_tombstones;
alter table users drop constraint users_imported_at_with_legacy_id;
alter table users drop column imported_at;
