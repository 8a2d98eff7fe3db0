-- Groups of the two one-letter flags, counted.
select l_returnflag, l_linestatus, count(*) from lineitem group by l_returnflag, l_linestatus
