-- Every line probing a table of small parts.
select count(*) from lineitem, part where l_partkey = p_partkey and p_size < 10
