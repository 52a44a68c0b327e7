drop table if exists instances;
