drop table if exists subscriptions;
