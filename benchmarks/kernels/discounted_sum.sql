-- A sum of decimal products.
select sum(l_extendedprice * (1 - l_discount)) from lineitem
