-- One decimal sum.
select sum(l_quantity) from lineitem
