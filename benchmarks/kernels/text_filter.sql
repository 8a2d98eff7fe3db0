-- A filter on a text constant, counted.
select count(*) from lineitem where l_shipinstruct = 'DELIVER IN PERSON'
