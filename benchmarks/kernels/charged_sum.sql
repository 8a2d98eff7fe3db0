-- A sum of two decimal products, as TPC-H q1 computes its charge.
select sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) from lineitem
