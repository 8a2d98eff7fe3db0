SELECT
    CAST(pickup_at AS DATE) AS day,
    zone_id,
    count(*) AS trips,
    sum(fare) AS fare
FROM trips_clean
GROUP BY CAST(pickup_at AS DATE), zone_id
