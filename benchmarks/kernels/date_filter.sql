-- A filter comparing two dates, counted.
select count(*) from lineitem where l_receiptdate > l_commitdate
