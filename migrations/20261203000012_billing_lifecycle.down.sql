drop table billing_lapses;
alter table instances drop constraint instances_billing_stop_with_time;
alter table instances drop column billing_stopped_at;
alter table instances drop column billing_stop;
