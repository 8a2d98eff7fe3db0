-- The same join, summing a decimal of the lines.
select sum(l_extendedprice) from lineitem, part where l_partkey = p_partkey and p_size < 10
