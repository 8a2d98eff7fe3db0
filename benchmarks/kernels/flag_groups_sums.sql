-- Groups of the two flags with decimal sums and an average.
select l_returnflag, l_linestatus, sum(l_quantity), sum(l_extendedprice), avg(l_discount) from lineitem group by l_returnflag, l_linestatus
