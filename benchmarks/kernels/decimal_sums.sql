-- Three decimal sums and a count.
select count(*), sum(l_quantity), sum(l_extendedprice), sum(l_discount) from lineitem
