-- Every line probing a table of a year of orders.
select count(*) from lineitem, orders where l_orderkey = o_orderkey and o_orderdate < date '1993-01-01'
