alter table subscriptions drop column legacy_id;
alter table instances drop column legacy_id;
alter table users drop column legacy_id;
